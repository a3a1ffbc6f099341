"""``cpe activity-poller``: one worker of the activity pool (DESIGN.md §4, §7).

The daemon is a loop of ticks: long-poll SWF for a task on one of its task lists, run it in a
child process (:mod:`cpe.runner`) while heartbeating and relaying the child's events to the
job's client output queue, respond to SWF, and poll again. One task at a time per process;
the pool is ``numprocs`` copies of this command.

It never dies of an AWS error: every failure at the loop boundary is logged and followed by a
bounded, jittered backoff. Signals only set flags: the first TERM/INT stops polling and lets
the running task finish within ``worker.grace_period``; a second one (or the grace running
out) kills the task's process group and fails the task with ``WORKER_SHUTDOWN``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from cpe import aws, log, messages, runner
from cpe.activities import Handler, TaskIds, load_handler
from cpe.backoff import Backoff
from cpe.config import ActivitySettings, Settings, config_path, load_settings
from cpe.errors import AWSError, CPEError, EndpointUnavailable, Throttled, UnknownResource
from cpe.sqs import SqsGateway
from cpe.swf import ActivityTask, SwfGateway

T = TypeVar("T")
_log = log.get("cpe.activity_poller")

EXIT_OK = 0
EXIT_STARTUP = 2
UNKNOWN_ACTIVITY_TYPE = "UNKNOWN_ACTIVITY_TYPE"
WORKER_ERROR = "WORKER_ERROR"
MIN_EMPTY_POLL = 1.0  # an endpoint answering empty polls at once must not make us spin
RESPOND_BUDGET = 60.0  # how long to keep retrying a response to SWF while it is unreachable


class StartupError(CPEError):
    """The poller cannot start: bad options, no activities, a handler that does not import."""


# --- what this poller runs ------------------------------------------------------------


@dataclass(frozen=True)
class Runnable:
    """One configured activity, ready to run: handler imported, timeouts settled."""

    settings: ActivitySettings
    handler: Handler | None
    command: tuple[str, ...] | None
    timeouts: dict[str, str]  # the four SWF default timeouts, by ActivitySettings field name
    beat_timeout: str  # the shortest heartbeat timeout SWF may enforce on this type's tasks

    @property
    def key(self) -> tuple[str, str]:
        return (self.settings.name, self.settings.version)

    @property
    def limits(self) -> runner.Limits:
        return runner.Limits(self.settings.memory_limit_mb, self.settings.cpu_time_limit_s)


_TIMEOUT_FIELDS = (
    "heartbeat_timeout",
    "schedule_to_close_timeout",
    "schedule_to_start_timeout",
    "start_to_close_timeout",
)


def select_activities(
    settings: Settings, names: Sequence[str], task_lists: Sequence[str]
) -> list[ActivitySettings]:
    """The configured activities matching ``--activity NAME[:VERSION]`` and ``--task-list``."""
    chosen = list(settings.activities)
    if names:
        wanted = [name.partition(":") for name in names]
        chosen = [a for a in chosen if any(_matches(a, n, v) for n, _, v in wanted)]
    if task_lists:
        chosen = [a for a in chosen if a.task_list in task_lists]
    if not chosen:
        raise StartupError(f"{settings.source}: no configured activity matches the options")
    return chosen


def _matches(activity: ActivitySettings, name: str, version: str) -> bool:
    return activity.name == name and version in ("", activity.version)


def build_runnable(activity: ActivitySettings, settings: Settings) -> Runnable:
    """Import the handler (or resolve the command) and settle the registration timeouts."""
    handler = load_handler(activity.handler) if activity.handler else None
    command = _resolve_command(activity.command, settings.base_dir) if activity.command else None
    timeouts = {name: getattr(activity, name) for name in _TIMEOUT_FIELDS}
    return Runnable(activity, handler, command, timeouts, activity.heartbeat_timeout)


def _resolve_command(command: tuple[str, ...], base_dir: Path) -> tuple[str, ...]:
    # The child runs in a private temp directory, so "./tools/x.sh" means "next to cpe.yaml".
    program = command[0]
    if "/" in program and not os.path.isabs(program):
        program = str(base_dir / program)
    return (program, *command[1:])


def apply_plan_timeouts(runnables: list[Runnable], settings: Settings) -> list[Runnable]:
    """Prefer a plan's timeouts for an activity it declares: the decider schedules with them.

    Plans are optional for a worker; one that does not load is the decider's problem, so it
    costs a warning here, not the worker.
    """
    try:
        from cpe.plan import load_plans

        plans = load_plans(list(settings.plans))
    except (CPEError, OSError) as exc:
        _log.warning("plans not loaded; using the configured timeouts", error=str(exc)[:200])
        return runnables
    declared = {(s.name, s.version): s for p in plans.values() for s in p.activities.values()}
    result = []
    for item in runnables:
        spec = declared.get(item.key)
        if spec is not None:
            item = _with_plan_timeouts(item, spec)
        result.append(item)
    return result


def _with_plan_timeouts(item: Runnable, spec: Any) -> Runnable:
    timeouts = {name: str(getattr(spec, name)) for name in _TIMEOUT_FIELDS}
    # Heartbeat as often as the shorter of the two asks, whichever one SWF ends up enforcing.
    beat = min((item.beat_timeout, timeouts["heartbeat_timeout"]), key=runner.heartbeat_interval)
    return Runnable(item.settings, item.handler, item.command, timeouts, beat)


# --- one task: the hooks the runner calls ----------------------------------------------


class TaskReporter:
    """The parent's side effects for one task: SQS events to the client, SWF heartbeats."""

    def __init__(self, poller: ActivityPoller, task: ActivityTask) -> None:
        self._poller = poller
        self._task = task
        self.fields = poller.log_fields(task)
        job = messages.job_of_workflow_id(task.workflow.workflow_id)
        self._client: str | None = job[0] if job else None
        self.job_id: str | None = job[1] if job else None
        self._queue: str | None = None

    def ids(self) -> TaskIds:
        workflow = self._task.workflow
        return TaskIds(self.job_id, workflow.workflow_id, workflow.run_id, self._task.activity_id)

    def send(self, event_type: str, **fields: Any) -> None:
        """Build and send one event to the job's client; failures are logged, never raised."""
        if self.job_id is None:
            return  # not a CPE job: no client to tell
        task = self._task
        activity = messages.activity_ref(task.activity_id, task.activity_type, **fields)
        workflow = messages.workflow_ref(task.workflow.workflow_id, task.workflow.run_id)
        self.send_event(messages.event(event_type, self.job_id, workflow, activity))

    def send_event(self, body: dict[str, Any]) -> None:
        try:
            url = self._output_queue()
            if url is not None:
                self._poller.sqs.send_json(url, body)
        except AWSError as exc:
            _log.error("event not sent", event=body.get("type"), error=str(exc), **self.fields)

    def _output_queue(self) -> str | None:
        if self._queue is None and self._client is not None:
            self._queue = self._poller.output_queue(self._client)
        return self._queue

    def failed(self, reason: str, details: str) -> None:
        task, workflow = self._task, self._task.workflow
        ref = messages.workflow_ref(workflow.workflow_id, workflow.run_id)
        if self.job_id is not None:
            body = messages.activity_failed(
                self.job_id, ref, task.activity_id, task.activity_type, reason, details
            )
            self.send_event(body)

    # runner.Hooks

    def preparing(self) -> None:
        self.send(messages.ACTIVITY_PREPARING)

    def progress(self, value: Any) -> None:
        self.send(messages.ACTIVITY_PROGRESS, progress=value)

    def finishing(self) -> None:
        self.send(messages.ACTIVITY_FINISHING)

    def heartbeat(self, details: str) -> bool:
        try:
            cancel = self._poller.swf.heartbeat(self._task.token, details)
        except UnknownResource as exc:
            raise runner.TaskGone(str(exc)) from exc
        except AWSError as exc:  # SWF unreachable: the task runs on; SWF decides on timeouts
            _log.warning("heartbeat failed", error=str(exc), **self.fields)
            return False
        if cancel:
            _log.info("cancel requested", **self.fields)
        return cancel


# --- the daemon ---------------------------------------------------------------------


class ActivityPoller:
    def __init__(
        self,
        settings: Settings,
        runnables: Sequence[Runnable],
        swf: SwfGateway,
        sqs: SqsGateway,
        *,
        task_lists: Sequence[str],
        identity: str,
        shutdown: runner.Shutdown,
    ) -> None:
        self.settings = settings
        self.swf = swf
        self.sqs = sqs
        self.identity = identity
        self.shutdown = shutdown
        self._runnables = {r.key: r for r in runnables}
        self._task_lists = list(dict.fromkeys(task_lists))
        self._next_list = 0
        self._queues: dict[str, str] = {}
        self._backoff = Backoff(base=1.0, cap=30.0)
        self.polling = False  # the signal handler may abort a poll only, never a task

    # the loop

    def run(self) -> int:
        while not self._setup():
            if self.shutdown.requested_at is not None:
                return EXIT_OK
        _log.info("polling", task_lists=",".join(self._task_lists), identity=self.identity)
        while self.shutdown.requested_at is None:
            self.tick()
        _log.info("stopped", identity=self.identity)
        return EXIT_OK

    def _setup(self) -> bool:
        """Register the domain and activity types; False (after a backoff) if SWF said no."""
        try:
            self.swf.ensure_domain(self.settings.domain_retention_days)
            for item in self._runnables.values():
                self.swf.ensure_activity_type(
                    item.settings.name,
                    item.settings.version,
                    task_list=item.settings.task_list,
                    **{name: item.timeouts[name] for name in _TIMEOUT_FIELDS},
                )
        except AWSError as exc:
            self._pause(f"registration failed: {exc}")
            return False
        self._backoff.reset()
        return True

    def tick(self) -> None:
        """One unit of work: one poll and, if it brings a task, that whole task."""
        task_list = self._task_lists[self._next_list % len(self._task_lists)]
        self._next_list += 1
        started = time.monotonic()
        try:
            task = self._poll(task_list)
        except AWSError as exc:
            self._pause(f"poll failed: {exc}")
            return
        except Exception as exc:  # the loop boundary: nothing unexpected may kill the worker
            _log.exception("unexpected error while polling", error=repr(exc))
            self._pause("unexpected error")
            return
        self._backoff.reset()
        if task is None:
            self._sleep(MIN_EMPTY_POLL - (time.monotonic() - started))
            return
        try:
            self.handle(task)
        except Exception as exc:
            _log.exception("unexpected error in a task", error=repr(exc), **self.log_fields(task))

    def _poll(self, task_list: str) -> ActivityTask | None:
        self.polling = True
        try:
            return self.swf.poll_activity(task_list, self.identity)
        finally:
            self.polling = False

    def _pause(self, why: str) -> None:
        delay = self._backoff.next_delay()
        _log.warning("backing off", reason=why[:300], delay=f"{delay:.1f}s")
        self._sleep(delay)

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once on a signal (the wakeup fd) so shutdown is never delayed."""
        if seconds <= 0:
            return
        wake = self.shutdown.wake_fd
        if wake is None:
            time.sleep(seconds)
            return
        ready, _, _ = select.select([wake], [], [], seconds)
        if ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake, 512)

    # one task

    def handle(self, task: ActivityTask) -> None:
        reporter = TaskReporter(self, task)
        _log.info("task received", activityType=":".join(task.activity_type), **reporter.fields)
        reporter.send(messages.ACTIVITY_STARTED, input=messages.decode_json(task.input))
        item = self._runnables.get(task.activity_type)
        if item is None:
            details = (
                f"this worker has no handler for {task.activity_type[0]}:{task.activity_type[1]}"
            )
            outcome: runner.Outcome = runner.Failed(UNKNOWN_ACTIVITY_TYPE, details)
        else:
            outcome = self._run_safely(item, task, reporter)
        self._report(task, reporter, outcome)

    def _run_safely(
        self, item: Runnable, task: ActivityTask, reporter: TaskReporter
    ) -> runner.Outcome:
        # A worker-side fault (fork refused, disk full, a bug) still answers SWF at once,
        # instead of leaving the task to its start-to-close timeout.
        try:
            return self._run(item, task, reporter)
        except Exception as exc:
            _log.exception("task could not be run", error=repr(exc), **reporter.fields)
            return runner.Failed(WORKER_ERROR, f"the worker could not run the task: {exc!r}")

    def _run(self, item: Runnable, task: ActivityTask, reporter: TaskReporter) -> runner.Outcome:
        spec = runner.Task(
            reporter.ids(), task.input, item.handler, item.command, limits=item.limits
        )
        policy = runner.Policy(
            heartbeat_interval=runner.heartbeat_interval(item.beat_timeout),
            cancel_grace=self.settings.worker.cancel_grace_period,
            shutdown_grace=self.settings.worker.grace_period,
        )
        child = runner.Child.start(spec)
        _log.info("task started", pid=child.pid, **reporter.fields)
        return runner.supervise(child, reporter, policy, self.shutdown)

    def _report(self, task: ActivityTask, reporter: TaskReporter, outcome: runner.Outcome) -> None:
        fields = reporter.fields
        if isinstance(outcome, runner.Completed):
            reporter.send(messages.ACTIVITY_COMPLETED, result=messages.decode_json(outcome.result))
            self._respond(
                "completed", lambda: self.swf.complete_activity(task.token, outcome.result), fields
            )
        elif isinstance(outcome, runner.Failed):
            reporter.failed(outcome.reason, outcome.details)
            self._respond(
                "failed",
                lambda: self.swf.fail_activity(task.token, outcome.reason, outcome.details),
                {**fields, "reason": outcome.reason},
            )
        elif isinstance(outcome, runner.Canceled):
            reporter.send(
                messages.ACTIVITY_CANCELED, result=messages.canceled_result(outcome.details)
            )
            self._respond(
                "canceled", lambda: self.swf.cancel_activity(task.token, outcome.details), fields
            )
        else:
            _log.warning("task gone; not responding", why=outcome.why[:200], **fields)

    def _respond(self, what: str, call: Callable[[], None], fields: dict[str, Any]) -> None:
        """Respond to SWF, retrying while it is unreachable (bounded), never raising."""
        backoff = Backoff(base=1.0, cap=15.0)
        deadline = time.monotonic() + RESPOND_BUDGET
        while True:
            try:
                call()
                _log.info(f"task {what}", **fields)
                return
            except UnknownResource as exc:
                _log.warning(f"task {what} but gone from SWF", error=str(exc)[:200], **fields)
                return
            except (EndpointUnavailable, Throttled) as exc:
                if time.monotonic() > deadline or self.shutdown.forced:
                    _log.error(f"task {what} but not reported", error=str(exc)[:200], **fields)
                    return
                self._sleep(backoff.next_delay())
            except AWSError as exc:
                _log.error(
                    f"task {what} but SWF refused the answer", error=str(exc)[:300], **fields
                )
                return

    # helpers

    def output_queue(self, client: str) -> str | None:
        """The URL of a configured client's output queue (created if missing), or None."""
        if client not in self._queues:
            try:
                name = self.settings.client(client).output_queue
            except KeyError:
                _log.warning("workflow of an unconfigured client; no events sent", client=client)
                return None
            self._queues[client] = self.sqs.ensure_queue(name)
        return self._queues[client]

    @staticmethod
    def log_fields(task: ActivityTask) -> dict[str, Any]:
        job = messages.job_of_workflow_id(task.workflow.workflow_id)
        return {
            "jobId": job[1] if job else None,
            "workflowId": task.workflow.workflow_id,
            "runId": task.workflow.run_id,
            "activityId": task.activity_id,
        }


# --- signals and the command line --------------------------------------------------------


class _Aborted(BaseException):
    """Raised from the signal handler to abandon a long poll on the second signal."""


def install_signals(poller: ActivityPoller) -> None:
    """TERM/INT only set flags (first: stop polling; second: kill the task) and wake selects."""
    read_fd, write_fd = os.pipe()
    for fd in (read_fd, write_fd):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(write_fd)
    poller.shutdown.wake_fd = read_fd

    def on_signal(signum: int, frame: FrameType | None) -> None:
        poller.shutdown.request()
        _log.info(
            "shutdown requested", signal=signal.Signals(signum).name, forced=poller.shutdown.forced
        )
        if poller.shutdown.forced and poller.polling:
            raise _Aborted()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cpe activity-poller",
        description="Run one activity worker: poll SWF, run each task in a child process.",
    )
    parser.add_argument(
        "--config", help="the stack configuration (default: $CPE_CONFIG or ./cpe.yaml)"
    )
    parser.add_argument(
        "--task-list",
        action="append",
        default=[],
        metavar="NAME",
        help="poll this task list (repeatable; default: those of the selected activities)",
    )
    parser.add_argument(
        "--activity",
        action="append",
        default=[],
        metavar="NAME[:VERSION]",
        help="run only this configured activity (repeatable; default: all configured)",
    )
    parser.add_argument("--identity", help="the worker identity SWF records (default: host:pid)")
    log.add_level_argument(parser)
    return parser.parse_args(argv)


def _prepare(args: argparse.Namespace) -> tuple[Settings, list[Runnable], list[str]]:
    settings = load_settings(config_path(args.config))
    # Handlers are named relative to the stack's directory, as in cpe.yaml's examples.
    if str(settings.base_dir) not in sys.path:
        sys.path.insert(0, str(settings.base_dir))
    chosen = select_activities(settings, args.activity, args.task_list)
    runnables = apply_plan_timeouts([build_runnable(a, settings) for a in chosen], settings)
    task_lists = args.task_list or [a.task_list for a in chosen]
    return settings, runnables, task_lists


def main(argv: list[str]) -> int:
    args = _parse_args(argv)
    log.setup(args.log_level)
    try:
        settings, runnables, task_lists = _prepare(args)
        swf = SwfGateway(aws.swf_client(settings.aws), settings.domain)
        sqs = SqsGateway(aws.sqs_client(settings.aws))
    except CPEError as exc:  # ConfigError (also of credentials), HandlerImportError, StartupError
        # One clear line and exit 2: supervisord shows it; a traceback would bury it.
        print(f"cpe activity-poller: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    if threading.active_count() > 1:
        # Tasks are forked from this process: a thread holding a lock at fork time would leave
        # that lock held forever in the child.
        _log.warning(
            "handler imports started threads; forking is unsafe with threads",
            threads=threading.active_count(),
        )
    identity = args.identity or f"{socket.gethostname()}:{os.getpid()}"
    poller = ActivityPoller(
        settings,
        runnables,
        swf,
        sqs,
        task_lists=task_lists,
        identity=identity[:256],
        shutdown=runner.Shutdown(),
    )
    install_signals(poller)
    try:
        return poller.run()
    except _Aborted:
        _log.info("stopped during a poll", identity=poller.identity)
        return EXIT_OK
