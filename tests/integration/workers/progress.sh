#!/bin/sh
# A command activity: JSON input on stdin, progress as JSON lines on stderr, result on stdout.
input=$(cat)
echo '{"preparing": true}' >&2
for p in 25 50 75 100; do
  echo "{\"progress\": $p}" >&2
  echo "working on step $p" >&2
done
echo '{"finishing": true}' >&2
printf '{"shell": true, "input": %s}\n' "$input"
