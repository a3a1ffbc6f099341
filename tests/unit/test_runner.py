"""The process-per-task runner, without AWS: real children, fake hooks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from cpe import ActivityFailed
from cpe.activities import Context, TaskIds
from cpe.runner import (
    Canceled,
    Child,
    Completed,
    Failed,
    Gone,
    Limits,
    Outcome,
    Policy,
    Shutdown,
    Task,
    TaskGone,
    heartbeat_interval,
    supervise,
)

NO_LIMITS = Limits()
POLICY = Policy(heartbeat_interval=5.0, cancel_grace=1.0)
IDS = TaskIds(job_id="job1", workflow_id="test.job1", run_id="run1", activity_id="Step1")


class Hooks:
    """Records every call; ``cancel_after``/``gone_after`` script the heartbeat replies."""

    def __init__(self, cancel_after: int | None = None, gone_after: int | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.cancel_after = cancel_after
        self.gone_after = gone_after

    def preparing(self) -> None:
        self.calls.append(("preparing", None))

    def progress(self, value: Any) -> None:
        self.calls.append(("progress", value))

    def finishing(self) -> None:
        self.calls.append(("finishing", None))

    def heartbeat(self, details: str) -> bool:
        self.calls.append(("heartbeat", details))
        beats = len(self.heartbeats)
        if self.gone_after is not None and beats > self.gone_after:
            raise TaskGone("unknown task")
        return self.cancel_after is not None and beats > self.cancel_after

    @property
    def heartbeats(self) -> list[str]:
        return [value for name, value in self.calls if name == "heartbeat"]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls if name != "heartbeat"]


def run(
    handler: Any = None,
    input: Any = None,
    *,
    command: tuple[str, ...] | None = None,
    hooks: Hooks | None = None,
    limits: Limits = NO_LIMITS,
    policy: Policy = POLICY,
    shutdown: Shutdown | None = None,
    raw_input: str | None = None,
) -> Outcome:
    task_input = raw_input if raw_input is not None else json.dumps(input)
    task = Task(IDS, task_input, handler=handler, command=command, limits=limits)
    return supervise(Child.start(task), hooks or Hooks(), policy, shutdown or Shutdown())


# --- handlers (module level: the child is a fork, so they are already "imported") --------


def echo(value: Any, ctx: Context) -> Any:
    return {"echo": value, "ids": [ctx.job_id, ctx.workflow_id, ctx.run_id, ctx.activity_id]}


def chatty(value: Any, ctx: Context) -> Any:
    ctx.preparing()
    for percent in range(100):
        ctx.progress(percent)
    ctx.finishing()
    return "done"


def where_am_i(value: Any, ctx: Context) -> Any:
    Path("scratch.txt").write_text("x")
    print("to stdout")
    return {"cwd": os.getcwd(), "pgid": os.getpgid(0), "pid": os.getpid()}


def deliberate(value: Any, ctx: Context) -> Any:
    raise ActivityFailed("BAD_ASSET", "the asset is corrupt")


def broken(value: Any, ctx: Context) -> Any:
    print("some context on stderr", file=sys.stderr)
    raise KeyError("missing")


def exit3(value: Any, ctx: Context) -> Any:
    os._exit(3)


def sigkill_self(value: Any, ctx: Context) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def hog_memory(value: Any, ctx: Context) -> Any:
    return len(bytearray(1024 * 1024 * 1024))


def burn_cpu(value: Any, ctx: Context) -> Any:
    while True:
        pass


def huge(value: Any, ctx: Context) -> Any:
    return "x" * 40000


def unencodable(value: Any, ctx: Context) -> Any:
    return {1, 2}


def cooperative(value: Any, ctx: Context) -> Any:
    while not ctx.cancelled:
        time.sleep(0.01)
    return "stopped"


def stubborn_with_grandchild(value: Any, ctx: Context) -> Any:
    child = subprocess.Popen(["sleep", "300"])
    ctx.heartbeat(child.pid)  # the test reads the grandchild's pid from heartbeat details
    while True:
        time.sleep(0.05)


def slow(value: Any, ctx: Context) -> Any:
    ctx.progress(7)
    time.sleep(value)
    return "slept"


# --- results and failures -------------------------------------------------------------


def test_result_and_ids_reach_the_parent() -> None:
    outcome = run(echo, {"a": 1})
    assert outcome == Completed(
        json.dumps(
            {"echo": {"a": 1}, "ids": ["job1", "test.job1", "run1", "Step1"]}, separators=(",", ":")
        )
    )


def test_events_keep_their_order_and_progress_is_coalesced() -> None:
    hooks = Hooks()
    assert run(chatty, None, hooks=hooks) == Completed('"done"')
    names = hooks.names()
    assert names[0] == "preparing" and names[-1] == "finishing"
    progress = [v for n, v in hooks.calls if n == "progress"]
    assert 1 <= len(progress) < 10, "100 progress calls in a burst must be coalesced"
    assert progress[-1] == 99, "the last progress value is always sent"


def test_child_is_isolated_in_its_own_group_and_temp_dir() -> None:
    outcome = run(where_am_i)
    assert isinstance(outcome, Completed)
    seen = json.loads(outcome.result)
    assert seen["pgid"] == seen["pid"] != os.getpid()
    assert seen["cwd"] != os.getcwd()
    assert not Path(seen["cwd"]).exists(), "the private working directory is removed"


@pytest.mark.parametrize(
    ("handler", "reason", "in_details"),
    [
        (deliberate, "BAD_ASSET", "the asset is corrupt"),
        (broken, "KeyError", "some context on stderr"),
        (exit3, "EXIT_CODE_3", "died"),
        (sigkill_self, "KILLED_BY_SIGKILL", "died"),
        (huge, "RESULT_TOO_LARGE", "40002 characters"),
        (unencodable, "INVALID_RESULT", "not JSON"),
    ],
)
def test_failures_have_clear_reasons(handler: Any, reason: str, in_details: str) -> None:
    outcome = run(handler)
    assert isinstance(outcome, Failed)
    assert outcome.reason == reason
    assert in_details in outcome.details


def test_exception_details_carry_the_traceback() -> None:
    outcome = run(broken)
    assert isinstance(outcome, Failed)
    assert "Traceback" in outcome.details and "raise KeyError" in outcome.details


def test_input_that_is_not_json_fails() -> None:
    outcome = run(echo, raw_input="{not json")
    assert isinstance(outcome, Failed) and outcome.reason == "INVALID_INPUT"


def test_memory_limit() -> None:
    outcome = run(hog_memory, limits=Limits(memory_mb=256))
    assert isinstance(outcome, Failed) and outcome.reason == "MEMORY_LIMIT_EXCEEDED"


def test_cpu_limit() -> None:
    outcome = run(burn_cpu, limits=Limits(cpu_seconds=1))
    assert isinstance(outcome, Failed) and outcome.reason == "CPU_LIMIT_EXCEEDED"


# --- heartbeats, cancellation, task gone, shutdown ------------------------------------


def test_parent_heartbeats_with_last_progress() -> None:
    hooks = Hooks()
    outcome = run(slow, 1.0, hooks=hooks, policy=Policy(heartbeat_interval=0.2))
    assert outcome == Completed('"slept"')
    assert len(hooks.heartbeats) >= 3
    assert json.loads(hooks.heartbeats[-1]) == {"progress": 7}


def test_cooperative_cancel_is_reported_as_canceled() -> None:
    hooks = Hooks(cancel_after=0)
    started = time.monotonic()
    policy = Policy(heartbeat_interval=0.1, cancel_grace=10)
    outcome = run(cooperative, hooks=hooks, policy=policy)
    assert isinstance(outcome, Canceled)
    assert time.monotonic() - started < 5, "the child saw ctx.cancelled and stopped by itself"


def test_cancel_sent_the_instant_the_child_starts_is_seen_not_fatal() -> None:
    for _ in range(5):  # the race is between fork and the child's handler installation
        policy = Policy(heartbeat_interval=0.0, cancel_grace=10)
        outcome = run(cooperative, hooks=Hooks(cancel_after=0), policy=policy)
        assert isinstance(outcome, Canceled)
        assert "exit code 0" in outcome.details, outcome.details


def test_cancel_kills_a_stubborn_child_and_its_grandchild() -> None:
    hooks = Hooks(cancel_after=1)
    policy = Policy(heartbeat_interval=0.1, cancel_grace=0.3)
    outcome = run(stubborn_with_grandchild, hooks=hooks, policy=policy)
    assert isinstance(outcome, Canceled)
    grandchild = int(next(h for h in hooks.heartbeats if h.isdigit()))
    assert not _alive(grandchild)


def test_task_gone_kills_the_child() -> None:
    hooks = Hooks(gone_after=0)
    outcome = run(stubborn_with_grandchild, hooks=hooks, policy=Policy(heartbeat_interval=0.1))
    assert isinstance(outcome, Gone)
    grandchild = int(next(h for h in hooks.heartbeats if h.isdigit()))
    assert not _alive(grandchild)


def test_shutdown_lets_the_task_finish_within_grace() -> None:
    shutdown = Shutdown()
    shutdown.request()
    outcome = run(
        slow, 0.3, shutdown=shutdown, policy=Policy(heartbeat_interval=5, shutdown_grace=10)
    )
    assert outcome == Completed('"slept"')


def test_shutdown_grace_exceeded_or_forced_fails_the_task() -> None:
    shutdown = Shutdown()
    shutdown.request()
    policy = Policy(heartbeat_interval=5, shutdown_grace=0.2)
    outcome = run(slow, 30, shutdown=shutdown, policy=policy)
    assert isinstance(outcome, Failed) and outcome.reason == "WORKER_SHUTDOWN"
    shutdown = Shutdown()
    shutdown.request()
    shutdown.request()
    outcome = run(slow, 30, shutdown=shutdown, policy=Policy(heartbeat_interval=5))
    assert isinstance(outcome, Failed) and "second signal" in outcome.details


def test_heartbeat_interval_is_a_fraction_of_the_timeout() -> None:
    assert heartbeat_interval("3") == 1.0
    assert heartbeat_interval("600") == 20.0
    assert heartbeat_interval("NONE") == 20.0


# --- command activities ---------------------------------------------------------------

SCRIPT = r"""
read -r input
echo '{"preparing": true}' >&2
echo 'plain log line' >&2
echo '{"progress": 50}' >&2
echo "{\"got\": $input}"
"""


def test_command_activity_with_progress() -> None:
    hooks = Hooks()
    outcome = run(command=("bash", "-c", SCRIPT), input={"n": 1}, hooks=hooks)
    assert outcome == Completed('{"got": {"n": 1}}')
    assert hooks.names() == ["preparing", "progress"]


def test_command_failure_carries_exit_code_and_stderr() -> None:
    outcome = run(command=("bash", "-c", "echo oops >&2; exit 4"))
    assert isinstance(outcome, Failed)
    assert outcome.reason == "EXIT_CODE_4" and "oops" in outcome.details


def test_command_that_cannot_start() -> None:
    outcome = run(command=("/nonexistent/tool",))
    assert isinstance(outcome, Failed) and outcome.reason == "COMMAND_NOT_STARTED"


def test_command_cancel_terminates_its_group() -> None:
    hooks = Hooks(cancel_after=0)
    policy = Policy(heartbeat_interval=0.1, cancel_grace=5)
    started = time.monotonic()
    outcome = run(command=("bash", "-c", "sleep 300 & wait"), hooks=hooks, policy=policy)
    assert isinstance(outcome, Canceled)
    assert time.monotonic() - started < 4, "SIGTERM to the group stopped it before the grace"


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs a few seconds from now: SIGKILL is delivered asynchronously,
    and a killed grandchild is not ours to reap, so give it the time to go."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        time.sleep(0.02)
    return True
