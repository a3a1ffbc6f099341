#!/usr/bin/env bash
# Quick start, command 1: set up .venv and start the whole CPE stack under supervisord.
#
#   ./run-stack.sh          install (idempotent), start, wait until every program is RUNNING
#   ./run-stack.sh status   what supervisord runs
#   ./run-stack.sh stop     stop every program (running tasks finish first) and supervisord
#
# Logs: var/log/<program>.log. Configuration: cpe.yaml, supervisord.conf (+ optional
# supervisord.local.conf). Offline by default, against the emulator on 127.0.0.1:4566; with no
# aws.endpoint_url in cpe.yaml the same stack runs on AWS (the emulator program idles).
set -euo pipefail
cd "$(dirname "$0")"

CONF=supervisord.conf
CTL=(.venv/bin/supervisorctl -c "$CONF")
START_DEADLINE=${CPE_START_DEADLINE:-90}   # seconds
STOP_DEADLINE=150                          # supervisord's stopwaitsecs (100) plus slack

die() { echo "run-stack: $*" >&2; exit 1; }

supervisord_up() { "${CTL[@]}" pid >/dev/null 2>&1; }

# Every program either RUNNING or deliberately not started (autostart=false): true.
all_running() {
    local status
    status=$("${CTL[@]}" status 2>/dev/null || true)
    [ -n "$status" ] && ! grep -Ev ' RUNNING |STOPPED +Not started' <<<"$status" | grep -q .
}

# The endpoint cpe.yaml points the daemons at answers (true at once when it names none: AWS).
endpoint_ready() {
    .venv/bin/python - <<'PY'
import socket, sys
from urllib.parse import urlsplit
from cpe.config import load_settings
endpoint = load_settings("cpe.yaml").aws.endpoint_url
if endpoint:
    url = urlsplit(endpoint)
    try:
        socket.create_connection((url.hostname, url.port or 80), timeout=1).close()
    except OSError:
        sys.exit(1)
PY
}

wait_until() {  # wait_until DEADLINE_SECONDS COMMAND...
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

start() {
    bash scripts/bootstrap.sh
    mkdir -p var/log   # supervisord does not create the directories of its log and socket
    if supervisord_up; then
        echo "run-stack: supervisord already running"
    else
        .venv/bin/supervisord -c "$CONF"
    fi
    if ! wait_until "$START_DEADLINE" all_running; then
        "${CTL[@]}" status || true
        die "not every program reached RUNNING within ${START_DEADLINE}s; see var/log/supervisord.log and var/log/<program>.log"
    fi
    if ! wait_until 30 endpoint_ready; then
        die "the endpoint in cpe.yaml (aws.endpoint_url) is not answering; see var/log/emulator.log"
    fi
    "${CTL[@]}" status
    cat <<'TXT'

CPE is running. Submit a job and watch it:

    JOB=$(.venv/bin/cpe submit plans/csv-report.yaml --input examples/jobs/csv-report.json)
    .venv/bin/cpe watch "$JOB"

Other plans: plans/verified-copy.yaml (examples/jobs/verified-copy.json),
             plans/word-count.yaml (examples/jobs/word-count.json).
Outputs: var/output/<jobId>/   Logs: var/log/   Stop: ./run-stack.sh stop
TXT
}

stop() {
    if ! supervisord_up; then
        echo "run-stack: supervisord is not running"
        return 0
    fi
    local pid
    pid=$("${CTL[@]}" pid)
    "${CTL[@]}" shutdown
    wait_until "$STOP_DEADLINE" bash -c "! kill -0 $pid 2>/dev/null" \
        || die "supervisord (pid $pid) still running after ${STOP_DEADLINE}s; see var/log/supervisord.log"
    echo "run-stack: stopped"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) "${CTL[@]}" status ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
