"""A tiny real-process activity worker for tests and benchmarks.

    python -m tests.support.noop_worker --endpoint URL --domain D --task-list L [--task-list M]

It polls its task lists through the real SWF gateway and does what each task's input (a JSON
object) asks, so a plan's step inputs script the scenario:

    {"sleep": 3}                       heartbeat every 0.2 s for 3 s; a cancel request cancels it
    {"fail": {"reason": "R", "details": "D"}}   fail with that reason
    {"fail_attempts": 2}               fail attempts 1 and 2 (reason FLAKY), succeed from 3 on
    {"result": <json>}                 complete with this result (default: the input echoed)

The attempt is read from the activityId (``step#3`` is attempt 3; no suffix is attempt 1).
TERM finishes the current task and exits 0. ``handle`` is the same behaviour as a handler
for the real ``cpe activity-poller`` (``handler: <module>:handle`` in cpe.yaml).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from cpe import aws
from cpe.config import AwsSettings
from cpe.errors import ActivityFailed, AWSError, EndpointUnavailable
from cpe.swf import ActivityTask, SwfGateway

_ATTEMPT = re.compile(r"#(\d+)$")
_stopping = False


def _stop(signum: int, frame: FrameType | None) -> None:
    global _stopping
    _stopping = True


def attempt_of(activity_id: str) -> int:
    match = _ATTEMPT.search(activity_id)
    return int(match[1]) if match else 1


def _spec(text: str | None) -> dict[str, Any]:
    try:
        spec: Any = json.loads(text or "null")
    except ValueError:
        spec = text
    return spec if isinstance(spec, dict) else {"result": spec}


def _failure(spec: dict[str, Any], activity_id: str) -> tuple[str, str] | None:
    """The (reason, details) this task must fail with, if any."""
    if "fail" in spec:
        return spec["fail"].get("reason", "FAILED"), spec["fail"].get("details", "")
    attempt = attempt_of(activity_id)
    if attempt <= int(spec.get("fail_attempts", 0)):
        return "FLAKY", f"attempt {attempt} fails"
    return None


def _result(spec: dict[str, Any], activity_id: str) -> Any:
    return spec.get("result", {"ok": True, "activityId": activity_id, "input": spec})


def handle(input: Any, ctx: Any) -> Any:
    """The same behaviour as a ``cpe activity-poller`` handler (``module:handle``)."""
    spec = input if isinstance(input, dict) else {"result": input}
    deadline = time.monotonic() + float(spec.get("sleep", 0))
    while time.monotonic() < deadline and not ctx.cancelled:
        time.sleep(0.05)
    if ctx.cancelled:
        raise ActivityFailed("CANCELED", "canceled on request")
    failure = _failure(spec, ctx.activity_id)
    if failure is not None:
        raise ActivityFailed(*failure)
    return _result(spec, ctx.activity_id)


def run_task(swf: SwfGateway, task: ActivityTask) -> str:
    """Do what the input asks; returns what happened (for the log line)."""
    spec = _spec(task.input)
    deadline = time.monotonic() + float(spec.get("sleep", 0))
    while time.monotonic() < deadline:
        if _heartbeat(swf, task):
            _insist(lambda: swf.cancel_activity(task.token, "canceled on request"))
            return "canceled"
        time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
    failure = _failure(spec, task.activity_id)
    if failure is not None:
        _insist(lambda: swf.fail_activity(task.token, *failure))
        return "failed"
    result = json.dumps(_result(spec, task.activity_id))
    _insist(lambda: swf.complete_activity(task.token, result))
    return "completed"


def _heartbeat(swf: SwfGateway, task: ActivityTask) -> bool:
    """Whether a cancel was requested; an endpoint restarting meanwhile is not fatal."""
    try:
        return swf.heartbeat(task.token)
    except EndpointUnavailable:
        return False


def _insist(respond: Callable[[], None], patience: float = 30.0) -> None:
    """Report the outcome even across an endpoint restart (as a real worker must)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            respond()
            return
        except EndpointUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="noop_worker")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--task-list", action="append", required=True)
    parser.add_argument("--identity", default="noop-worker")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    swf = SwfGateway(aws.swf_client(AwsSettings("us-east-1", args.endpoint)), args.domain)
    print("noop worker ready", flush=True)
    while not _stopping:
        for task_list in args.task_list:
            try:
                task = swf.poll_activity(task_list, args.identity)
                if task is not None:
                    outcome = run_task(swf, task)
                    print(f"{outcome} {task.workflow.workflow_id} {task.activity_id}", flush=True)
            except AWSError as exc:  # the endpoint may be restarting; do not spin
                print(f"error {exc}", file=sys.stderr, flush=True)
                time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
