"""Real ``cpe activity-poller`` processes against the emulator, driven by a tiny test decider.

The test plays the decider itself (start a workflow, answer its decision task with one
ScheduleActivityTask, read the history), so that these tests pin the worker's behaviour and
nothing else. Every wait is on an event (an SQS message, a history event, a file, a process
exit) with a deadline, never a sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from cpe import aws
from cpe.config import AwsSettings
from cpe.sqs import SqsGateway
from cpe.swf import SwfGateway, WorkflowRef
from tests.support.emulator import REPO_ROOT, EmulatorProcess
from tests.support.stack import DaemonSet, write_config

T = TypeVar("T")
WORKERS = Path(__file__).parent / "workers"
DOMAIN = "cpe-test"
DECISIONS = "test-decisions"
OUTPUT = "test-output"
TERMINAL = {"ACTIVITY_COMPLETED", "ACTIVITY_FAILED", "ACTIVITY_CANCELED"}
CLOSED = {
    "ActivityTaskCompleted",
    "ActivityTaskFailed",
    "ActivityTaskCanceled",
    "ActivityTaskTimedOut",
}


SELF_REGISTERED = "Registers"  # the one activity type the tests do not register first


def handler(name: str, function: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": "1", "handler": f"poller_workers:{function}", **extra}


ACTIVITIES = [
    handler("Steps", "steps"),
    handler(SELF_REGISTERED, "steps"),
    handler("Raises", "raises"),
    handler("Deliberate", "deliberate"),
    handler("Exit3", "exit3"),
    handler("Sigkill", "sigkill"),
    handler("Hog", "hog", memory_limit_mb=256),
    handler("Sleeper", "sleeper", heartbeat_timeout="3"),
    handler("Stubborn", "stubborn", heartbeat_timeout="3"),
    {"name": "Shell", "version": "1", "command": [str(WORKERS / "progress.sh")]},
]


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Call ``probe`` until it returns something; the probes themselves block (long polls)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.05)  # only for probes that do not block (files, process table)
    raise AssertionError(f"timed out waiting for {what}")


class Stack:
    """The emulator, a config, the poller processes and a test decider."""

    def __init__(self, emulator: EmulatorProcess, tmp_path: Path) -> None:
        settings = AwsSettings(region="us-east-1", endpoint_url=emulator.endpoint_url)
        self.tmp_path = tmp_path
        self.swf = SwfGateway(aws.swf_client(settings), DOMAIN)
        self.sqs = SqsGateway(aws.sqs_client(settings))
        self.config = write_config(
            tmp_path,
            emulator.endpoint_url,
            activities=ACTIVITIES,
            clients=[{"name": "test", "queues": {"input": "test-input", "output": OUTPUT}}],
            domain=DOMAIN,
            worker={"grace_period": 10, "cancel_grace_period": 1},
        )
        self.daemons = DaemonSet(self.config)
        self.output = self.sqs.ensure_queue(OUTPUT)
        self._register()
        self._events: dict[str, list[dict[str, Any]]] = {}

    def _register(self) -> None:
        self.swf.ensure_domain()
        self.swf.ensure_workflow_type(
            "Test", "1", task_list=DECISIONS, execution_timeout="600", task_timeout="30"
        )
        for activity in [*ACTIVITIES, {"name": "Ghost", "version": "1"}]:
            if activity["name"] == SELF_REGISTERED:
                continue  # left to the poller, as on a fresh AWS account
            self.swf.ensure_activity_type(
                activity["name"],
                "1",
                task_list=f"{activity['name']}-1",
                heartbeat_timeout="NONE",
                schedule_to_close_timeout="NONE",
                schedule_to_start_timeout="NONE",
                start_to_close_timeout="600",
            )

    def start_poller(self, *args: str) -> subprocess.Popen[bytes]:
        return self.daemons.start("activity-poller", *args)

    def schedule(
        self,
        job: str,
        activity: str,
        input: Any,
        *,
        task_list: str | None = None,
        heartbeat: str = "NONE",
    ) -> WorkflowRef:
        """Start workflow ``test.<job>`` and schedule one activity task (id ``Step``) in it."""
        workflow_id = f"test.{job}"
        run_id = self.swf.start_workflow(
            workflow_id, ("Test", "1"), task_list=DECISIONS, input="{}"
        )
        decision = wait_for("the decision task", lambda: self.swf.poll_decision(DECISIONS, "test"))
        attributes = {
            "activityType": {"name": activity, "version": "1"},
            "activityId": "Step",
            "input": json.dumps(input),
            "taskList": {"name": task_list or f"{activity}-1"},
            "heartbeatTimeout": heartbeat,
        }
        decisions = [
            {
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": attributes,
            }
        ]
        self.swf.respond_decision(decision.token, decisions)
        return WorkflowRef(workflow_id, run_id)

    def request_cancel(self, ref: WorkflowRef) -> None:
        """Signal the workflow to get a decision task, and answer it with a cancel request."""
        self.swf._client.signal_workflow_execution(
            domain=DOMAIN, workflowId=ref.workflow_id, runId=ref.run_id, signalName="cancel"
        )
        decision = wait_for("the decision task", lambda: self.swf.poll_decision(DECISIONS, "test"))
        cancel = {
            "decisionType": "RequestCancelActivityTask",
            "requestCancelActivityTaskDecisionAttributes": {"activityId": "Step"},
        }
        self.swf.respond_decision(decision.token, [cancel])

    def events(self, job: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Every event of a job up to and including its final activity event."""

        def finished() -> list[dict[str, Any]] | None:
            self._receive()
            got = self._events.get(job, [])
            return got if got and got[-1]["type"] in TERMINAL else None

        return wait_for(f"the final event of {job}", finished, timeout)

    def _receive(self) -> None:
        for message in self.sqs.receive(self.output, wait_seconds=1):
            body = json.loads(message.body)
            self._events.setdefault(body["jobId"], []).append(body)
            self.sqs.delete(self.output, message.receipt)

    def closing_event(self, ref: WorkflowRef, timeout: float = 30.0) -> dict[str, Any]:
        def closed() -> dict[str, Any] | None:
            found = [e for e in self.swf.history(ref) if e["eventType"] in CLOSED]
            return found[-1] if found else None

        return wait_for("the activity to close in the history", closed, timeout)

    def pids(self, name: str) -> dict[str, int | None]:
        path = self.tmp_path / name
        text = wait_for(f"{path}", lambda: path.read_text() if path.exists() else None)
        loaded: dict[str, int | None] = json.loads(text)
        return loaded

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp_path.glob("*.log")))


@pytest.fixture
def stack(
    emulator: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(WORKERS), str(REPO_ROOT)]))
    stack = Stack(emulator, tmp_path)
    try:
        yield stack
    finally:
        for name in list(stack.daemons.processes):
            with contextlib.suppress(Exception):
                process = stack.daemons.processes.pop(name)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def alive(pid: int | None) -> bool:
    """Still running a few seconds from now (a SIGKILL is delivered asynchronously)."""
    deadline = time.monotonic() + 5
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return running(pid)


def data(event: dict[str, Any]) -> dict[str, Any]:
    activity: dict[str, Any] = event["data"]["activity"]
    return activity


# --- the tests ------------------------------------------------------------------------


def test_the_poller_registers_its_activity_types_with_the_configured_timeouts(
    stack: Stack,
) -> None:
    def described() -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = stack.swf._client.describe_activity_type(
                domain=DOMAIN, activityType={"name": SELF_REGISTERED, "version": "1"}
            )
            return found
        except stack.swf._client.exceptions.UnknownResourceFault:
            return None

    assert described() is None
    stack.start_poller("--activity", SELF_REGISTERED)
    configuration = wait_for("the poller to register its type", described)["configuration"]
    ref = stack.schedule("registered", SELF_REGISTERED, {})
    assert stack.closing_event(ref)["eventType"] == "ActivityTaskCompleted"
    assert configuration["defaultTaskList"] == {"name": f"{SELF_REGISTERED}-1"}
    assert configuration["defaultTaskHeartbeatTimeout"] == "60"  # cpe.yaml's defaults
    assert configuration["defaultTaskStartToCloseTimeout"] == "3600"


def test_full_message_sequence_in_order(stack: Stack) -> None:
    stack.start_poller("--activity", "Steps")
    ref = stack.schedule("j1", "Steps", {"x": 1})
    events = stack.events("j1")
    types = [e["type"] for e in events]
    assert types[:2] == ["ACTIVITY_STARTED", "ACTIVITY_PREPARING"]
    assert types[-2:] == ["ACTIVITY_FINISHING", "ACTIVITY_COMPLETED"]
    assert set(types[2:-2]) == {"ACTIVITY_PROGRESS"}, types
    assert data(events[-3])["progress"] == 100, "the last progress is always sent"
    result = {"echo": {"x": 1}, "jobId": "j1", "activityId": "Step"}
    assert data(events[-1])["result"] == result
    assert data(events[0])["input"] == {"x": 1}
    assert all(
        e["data"]["workflow"] == {"workflowId": ref.workflow_id, "runId": ref.run_id}
        for e in events
    )
    closing = stack.closing_event(ref)
    assert closing["eventType"] == "ActivityTaskCompleted"
    assert json.loads(closing["activityTaskCompletedEventAttributes"]["result"]) == result


FAILURES = {
    "Raises": "ValueError",
    "Deliberate": "ASSET_CORRUPT",
    "Exit3": "EXIT_CODE_3",
    "Sigkill": "KILLED_BY_SIGKILL",
    "Hog": "MEMORY_LIMIT_EXCEEDED",
    "Ghost": "UNKNOWN_ACTIVITY_TYPE",
}


def test_failures_have_the_right_reason(stack: Stack) -> None:
    poller = stack.start_poller(
        *[arg for name in FAILURES if name != "Ghost" for arg in ("--activity", name)]
    )
    refs = {name: stack.schedule(f"fail-{name}", name, {}) for name in FAILURES if name != "Ghost"}
    refs["Ghost"] = stack.schedule("fail-Ghost", "Ghost", {}, task_list="Raises-1")
    for name, reason in FAILURES.items():
        last = stack.events(f"fail-{name}")[-1]
        assert last["type"] == "ACTIVITY_FAILED", name
        assert data(last)["result"]["reason"] == reason, data(last)["result"]
        closing = stack.closing_event(refs[name])
        assert closing["activityTaskFailedEventAttributes"]["reason"] == reason
    assert (
        "frame 12 is unreadable" in data(stack.events("fail-Deliberate")[-1])["result"]["details"]
    )
    assert "Traceback" in data(stack.events("fail-Raises")[-1])["result"]["details"]
    assert poller.poll() is None, "the worker survives every failure of its tasks"


def test_parent_heartbeats_keep_a_long_task_alive(stack: Stack) -> None:
    stack.start_poller("--activity", "Sleeper")
    ref = stack.schedule("hb", "Sleeper", {"seconds": 20}, heartbeat="3")
    closing = stack.closing_event(ref, timeout=60)
    assert closing["eventType"] == "ActivityTaskCompleted", closing
    assert stack.events("hb")[-1]["type"] == "ACTIVITY_COMPLETED"


def test_cancel_kills_the_tree_and_reports_canceled(stack: Stack) -> None:
    stack.start_poller("--activity", "Stubborn")
    ref = stack.schedule("cancel", "Stubborn", {"pid_file": str(stack.tmp_path / "cancel.pids")})
    pids = stack.pids("cancel.pids")
    assert running(pids["child"]) and running(pids["grandchild"])
    stack.request_cancel(ref)
    closing = stack.closing_event(ref)
    assert closing["eventType"] == "ActivityTaskCanceled", closing
    canceled = stack.events("cancel")[-1]
    assert canceled["type"] == "ACTIVITY_CANCELED"
    result = canceled["data"]["activity"]["result"]
    assert result["reason"] == "ActivityTaskCanceled"
    assert "after the cancel request" in result["details"]
    assert not alive(pids["child"]) and not alive(pids["grandchild"])


def test_term_lets_the_running_task_finish(stack: Stack) -> None:
    poller = stack.start_poller("--activity", "Sleeper")
    ref = stack.schedule(
        "term", "Sleeper", {"seconds": 2, "pid_file": str(stack.tmp_path / "term.pids")}
    )
    stack.pids("term.pids")
    poller.send_signal(signal.SIGTERM)
    assert poller.wait(timeout=30) == 0, stack.log()
    assert stack.closing_event(ref)["eventType"] == "ActivityTaskCompleted"
    assert stack.events("term")[-1]["type"] == "ACTIVITY_COMPLETED"


def test_second_term_fails_the_task_and_leaves_no_process(stack: Stack) -> None:
    poller = stack.start_poller("--activity", "Stubborn")
    ref = stack.schedule("term2", "Stubborn", {"pid_file": str(stack.tmp_path / "term2.pids")})
    pids = stack.pids("term2.pids")
    poller.send_signal(signal.SIGTERM)
    wait_for("the first TERM to be logged", lambda: "shutdown requested" in stack.log() or None)
    poller.send_signal(signal.SIGTERM)
    poller.wait(timeout=30)
    closing = stack.closing_event(ref)
    assert closing["activityTaskFailedEventAttributes"]["reason"] == "WORKER_SHUTDOWN"
    assert data(stack.events("term2")[-1])["result"]["reason"] == "WORKER_SHUTDOWN"
    assert not alive(pids["child"]) and not alive(pids["grandchild"])
    left = [
        p.info
        for p in psutil.process_iter(["pid", "ppid", "cmdline"])
        if _in_tree(p, poller.pid, pids)
    ]
    assert left == [], left


def test_a_killed_poller_takes_its_task_tree_with_it(stack: Stack) -> None:
    """SIGKILL of the poller (no chance to clean up): the task it ran and the grandchild that
    task started do not live on unsupervised, to run again once SWF times the task out."""
    poller = stack.start_poller("--activity", "Stubborn")
    stack.schedule("orphan", "Stubborn", {"pid_file": str(stack.tmp_path / "orphan.pids")})
    pids = stack.pids("orphan.pids")
    assert running(pids["child"]) and running(pids["grandchild"])
    poller.kill()
    poller.wait(timeout=10)
    assert not alive(pids["child"]) and not alive(pids["grandchild"])


def _in_tree(process: psutil.Process, poller: int, pids: dict[str, int | None]) -> bool:
    if process.pid in (poller, *pids.values()) or process.info["ppid"] == poller:
        return running(process.pid)
    with contextlib.suppress(psutil.Error):
        return os.getpgid(process.pid) == pids["child"] and running(process.pid)
    return False


def test_shell_command_activity_with_progress(stack: Stack) -> None:
    stack.start_poller("--activity", "Shell")
    ref = stack.schedule("shell", "Shell", {"n": 5})
    events = stack.events("shell")
    types = [e["type"] for e in events]
    assert types[:2] == ["ACTIVITY_STARTED", "ACTIVITY_PREPARING"]
    assert types[-2:] == ["ACTIVITY_FINISHING", "ACTIVITY_COMPLETED"]
    assert data(events[-3])["progress"] == 100
    assert data(events[-1])["result"] == {"shell": True, "input": {"n": 5}}
    assert stack.closing_event(ref)["eventType"] == "ActivityTaskCompleted"


def test_handler_that_cannot_be_imported_is_a_clean_startup_error(
    stack: Stack, tmp_path: Path
) -> None:
    config = tmp_path / "broken" / "cpe.yaml"
    config.parent.mkdir()
    config.write_text(
        stack.config.read_text().replace("poller_workers:steps", "no_such_module:run"),
        encoding="utf-8",
    )
    daemons = DaemonSet(config)
    process = daemons.start("activity-poller")
    assert process.wait(timeout=30) == 2
    output = next(config.parent.glob("*.log")).read_text()
    assert "no_such_module" in output and "Traceback" not in output


def test_worker_survives_the_endpoint_going_away(stack: Stack, emulator: EmulatorProcess) -> None:
    poller = stack.start_poller("--activity", "Steps")
    wait_for("the poller to poll", lambda: "polling task_lists" in stack.log() or None)
    emulator.kill()
    wait_for("a backoff", lambda: "backing off" in stack.log() or None)
    emulator.restart()
    ref = stack.schedule("again", "Steps", {"after": "restart"})
    assert stack.events("again", timeout=60)[-1]["type"] == "ACTIVITY_COMPLETED"
    assert stack.closing_event(ref)["eventType"] == "ActivityTaskCompleted"
    assert poller.poll() is None


def test_term_while_idle_exits_promptly(stack: Stack) -> None:
    poller = stack.start_poller("--activity", "Steps")
    wait_for("the poller to poll", lambda: "polling task_lists" in stack.log() or None)
    started = time.monotonic()
    poller.send_signal(signal.SIGTERM)
    assert poller.wait(timeout=30) == 0
    assert time.monotonic() - started < 10, "at most one long poll (2 s here) before exiting"
