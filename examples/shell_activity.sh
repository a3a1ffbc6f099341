#!/bin/sh
# Example command activity (any language works the same way):
#   stdin  = the step input, JSON, e.g. {"text": "to be or not to be"}
#   stderr = optional JSON lines for the worker: {"preparing": true}, {"progress": 50},
#            {"finishing": true}; any other line is just log, kept for failure details
#   stdout = the result, JSON;  exit 0 = success, any other exit code = failure
#
# cpe.yaml:
#   activities:
#     - name: ShellWordCount
#       version: "1"
#       command: ["./examples/shell_activity.sh"]   # relative to the directory of cpe.yaml
set -eu
input=$(cat)
echo '{"preparing": true}' >&2
text=$(printf '%s' "$input" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("text", ""))')
echo '{"progress": 50}' >&2
words=$(printf '%s' "$text" | wc -w | tr -d ' ')
echo '{"finishing": true}' >&2
printf '{"words": %s}\n' "$words"
