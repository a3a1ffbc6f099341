"""SWF backend: moto's SWFBackend with indexed state, long polls and time-driven timeouts.

Concurrency model: one re-entrant lock (``self.lock``) guards all SWF state; the response class
holds it for the whole of every call. Long polls wait on a per-task-list condition built on that
lock, so waiting releases it and a schedule wakes exactly the pollers of that list.
Timeouts and timers are entries of one deadline heap, processed by a background thread
(``run_timeouts``), so a run whose worker died still times out with no API call arriving.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from moto.swf.exceptions import (
    SWFTypeDeprecatedFault,
    SWFUnknownResourceFault,
    SWFValidationException,
    SWFWorkflowExecutionAlreadyStartedFault,
)
from moto.swf.models import SWFBackend
from moto.swf.models.domain import Domain

from emulator import swf_decisions
from emulator.swf_model import ActivityTask, DecisionTask, EmuRun, Timer, parse_timeout

log = logging.getLogger(__name__)

TaskListKey = tuple[str, str]  # (domain, task list name)
# (deadline, sequence, run_id, kind, key): kind is "run", "decision", "activity" or "timer".
HeapEntry = tuple[float, int, str, str, str]

TYPE_TIMEOUT_FIELDS = (
    "default_task_heartbeat_timeout",
    "default_task_schedule_to_close_timeout",
    "default_task_schedule_to_start_timeout",
    "default_task_start_to_close_timeout",
    "default_execution_start_to_close_timeout",
)


# The HTTP layer registers, per request thread, a check that the client is still connected.
# A poller that went away (killed daemon, client timeout) must not be handed a task: nobody
# would ever answer it, and it would sit started until its timeout.
_request = threading.local()


def set_caller_check(check: Callable[[], bool] | None) -> None:
    _request.alive = check


def caller_alive() -> bool:
    check: Callable[[], bool] | None = getattr(_request, "alive", None)
    return check is None or check()


class EmuDomain(Domain):
    """A domain that indexes its runs: by run id, open ones by workflow id, closed by age."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runs: dict[str, EmuRun] = {}
        self.open_runs: dict[str, EmuRun] = {}  # workflowId -> run
        self.closed_runs: OrderedDict[str, EmuRun] = OrderedDict()  # runId -> run, by close


class EmuSWFBackend(SWFBackend):
    def __init__(self, region_name: str, account_id: str, poll_timeout: float = 60.0) -> None:
        super().__init__(region_name, account_id)
        self.poll_timeout = poll_timeout
        self.retention = 4 * 3600.0
        self.tokens: dict[str, ActivityTask | EmuRun] = {}
        self.decision_queues: dict[TaskListKey, deque[EmuRun]] = {}
        self.activity_queues: dict[TaskListKey, deque[ActivityTask]] = {}
        self.heap: list[HeapEntry] = []
        self.seq = itertools.count()
        self.version = 0  # bumped on every mutating call; persistence snapshots when it moved
        self._init_sync()

    # -- synchronisation (not pickled) ---------------------------------------------------
    def _init_sync(self) -> None:
        self.lock = threading.RLock()
        self.conditions: dict[TaskListKey, threading.Condition] = {}
        self.heap_changed = threading.Condition(self.lock)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("lock", "conditions", "heap_changed", "seq"):
            state.pop(name, None)
        state["next_seq"] = next(self.seq)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.seq = itertools.count(state.pop("next_seq"))
        self.__dict__.update(state)
        self._init_sync()

    def _condition(self, key: TaskListKey) -> threading.Condition:
        cond = self.conditions.get(key)
        if cond is None:
            cond = self.conditions[key] = threading.Condition(self.lock)
        return cond

    def push_deadline(self, when: float, run: EmuRun, kind: str, key: str = "") -> None:
        entry = (when, next(self.seq), run.run_id, kind, key)
        heapq.heappush(self.heap, entry)
        if self.heap[0] is entry:
            self.heap_changed.notify_all()

    # -- domains and types (moto's, with our Domain class and timeout validation) --------
    def register_domain(
        self,
        name: str,
        workflow_execution_retention_period_in_days: int,
        description: str | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> None:
        super().register_domain(name, workflow_execution_retention_period_in_days, description)
        plain = self.domains.pop()
        domain = EmuDomain(
            plain.name,
            plain.retention,
            account_id=self.account_id,
            region_name=self.region_name,
            description=plain.description,
        )
        self.domains.append(domain)
        if tags:
            self.tagger.tag_resource(domain.to_short_dict()["arn"], tags)

    def _get_domain(self, name: str, ignore_empty: bool = False) -> EmuDomain:
        domain = super()._get_domain(name, ignore_empty)
        assert domain is None or isinstance(domain, EmuDomain)
        return domain

    def register_type(
        self, kind: str, domain_name: str, name: str, version: str, **kwargs: Any
    ) -> None:
        for field in TYPE_TIMEOUT_FIELDS:
            parse_timeout(
                kwargs.get(field), field, field != "default_execution_start_to_close_timeout"
            )
        super().register_type(kind, domain_name, name, version, **kwargs)

    # -- runs ----------------------------------------------------------------------------
    def start_workflow_execution(
        self,
        domain_name: str,
        workflow_id: str,
        workflow_name: str,
        workflow_version: str,
        tag_list: dict[str, str] | None = None,
        workflow_input: str | None = None,
        **kwargs: Any,
    ) -> EmuRun:
        domain = self._get_domain(domain_name)
        wf_type = domain.get_type("workflow", workflow_name, workflow_version)
        if wf_type.status == "DEPRECATED":
            raise SWFTypeDeprecatedFault(wf_type)
        if workflow_id in domain.open_runs:
            raise SWFWorkflowExecutionAlreadyStartedFault()
        run = EmuRun(
            domain, wf_type, workflow_id, tag_list=tag_list, workflow_input=workflow_input, **kwargs
        )
        run.start_timestamp = time.time()
        run.add_event(
            "WorkflowExecutionStarted",
            input=workflow_input,
            executionStartToCloseTimeout=str(run.execution_start_to_close_timeout),
            taskStartToCloseTimeout=str(run.task_start_to_close_timeout),
            childPolicy=run.child_policy,
            taskList={"name": run.task_list},
            workflowType=wf_type.to_short_dict(),
            tagList=run.tag_list or None,
            parentInitiatedEventId=0,
        )
        domain.runs[run.run_id] = run
        domain.open_runs[workflow_id] = run
        if run.execution_timeout is not None:
            self.push_deadline(run.start_timestamp + run.execution_timeout, run, "run")
        self.schedule_decision(run)
        return run

    def get_run(self, domain_name: str, workflow_id: str, run_id: str | None) -> EmuRun:
        domain = self._get_domain(domain_name)
        run = domain.runs.get(run_id) if run_id else domain.open_runs.get(workflow_id)
        if run is None or run.workflow_id != workflow_id:
            raise SWFUnknownResourceFault(
                "execution", f"WorkflowExecution=[workflowId={workflow_id}, runId={run_id}]"
            )
        return run

    def get_open_run(self, domain_name: str, workflow_id: str, run_id: str | None) -> EmuRun:
        run = self.get_run(domain_name, workflow_id, run_id)
        if not run.open:
            raise SWFUnknownResourceFault(
                "execution", f"WorkflowExecution=[workflowId={workflow_id}, runId={run_id}]"
            )
        return run

    def close_run(self, run: EmuRun, status: str, event_type: str, **attributes: Any) -> None:
        """Close a run: record its closing event, drop its tasks, tokens and timers."""
        run.add_event(event_type, **attributes)
        run.execution_status = "CLOSED"
        run.close_status = status
        run.close_timestamp = time.time()
        for task in run.activities.values():
            task.state = "CLOSED"
            self.tokens.pop(task.token, None)
        run.activities.clear()
        run.timers.clear()
        for decision in (run.scheduled_decision, run.started_decision):
            if decision is not None:
                self.tokens.pop(decision.token, None)
        run.scheduled_decision = run.started_decision = None
        domain = self._domain_of(run)
        domain.open_runs.pop(run.workflow_id, None)
        domain.closed_runs[run.run_id] = run

    def _domain_of(self, run: EmuRun) -> EmuDomain:
        domain = run.domain
        assert isinstance(domain, EmuDomain)
        return domain

    # -- decision tasks ------------------------------------------------------------------
    def schedule_decision(self, run: EmuRun) -> None:
        """Schedule a decision task unless one is already scheduled (SWF keeps at most one)."""
        if not run.open or run.scheduled_decision is not None:
            return
        if run.started_decision is not None:
            run.decision_needed = True
            return
        event_id = run.add_event(
            "DecisionTaskScheduled",
            taskList={"name": run.task_list},
            startToCloseTimeout=str(run.task_start_to_close_timeout),
        )
        run.scheduled_decision = DecisionTask(event_id)
        key = (self._domain_of(run).name, run.task_list)
        self.decision_queues.setdefault(key, deque()).append(run)
        self._condition(key).notify()

    def _take_decision(self, key: TaskListKey) -> EmuRun | None:
        queue = self.decision_queues.get(key)
        while queue:
            run = queue.popleft()
            if run.open and run.scheduled_decision is not None and run.started_decision is None:
                return run
        return None

    def start_decision(self, run: EmuRun, identity: str | None) -> DecisionTask:
        task = run.scheduled_decision
        assert task is not None
        run.scheduled_decision = None
        task.started_event_id = run.add_event(
            "DecisionTaskStarted", scheduledEventId=task.scheduled_event_id, identity=identity
        )
        task.started_at = time.time()
        task.previous_started_event_id = run.last_started_event_id
        run.last_started_event_id = task.started_event_id
        run.started_decision = task
        run.decision_needed = False
        self.tokens[task.token] = run
        if run.task_timeout is not None:
            self.push_deadline(task.started_at + run.task_timeout, run, "decision", task.token)
        return task

    def poll_for_decision(
        self, domain_name: str, task_list: str, identity: str | None
    ) -> tuple[EmuRun, DecisionTask] | None:
        self._get_domain(domain_name)
        key = (domain_name, task_list)
        deadline = time.monotonic() + self.poll_timeout
        while True:
            run = self._take_decision(key)
            if run is not None and not caller_alive():
                self.decision_queues[key].appendleft(run)
                self._condition(key).notify()  # pass the wake-up on to a live poller
                return None
            if run is not None:
                self.version += 1
                return run, self.start_decision(run, identity)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._condition(key).wait(remaining)

    def started_decision_for(self, token: str) -> tuple[EmuRun, DecisionTask]:
        run = self.tokens.get(token)
        if not isinstance(run, EmuRun) or run.started_decision is None:
            raise SWFUnknownResourceFault("decision task", f"taskToken={token[:16]}...")
        if run.started_decision.token != token:
            raise SWFUnknownResourceFault("decision task", f"taskToken={token[:16]}...")
        return run, run.started_decision

    def respond_decision_task_completed(
        self,
        task_token: str,
        decisions: list[dict[str, Any]] | None = None,
        execution_context: str | None = None,
    ) -> None:
        run, task = self.started_decision_for(task_token)
        decisions = decisions or []
        run.validate_decisions(decisions)
        swf_decisions.check_attributes(decisions)
        completed_id = run.add_event(
            "DecisionTaskCompleted",
            scheduledEventId=task.scheduled_event_id,
            startedEventId=task.started_event_id,
            executionContext=execution_context,
        )
        run.started_decision = None
        self.tokens.pop(task_token, None)
        run.latest_execution_context = execution_context
        swf_decisions.apply(self, run, completed_id, decisions)
        if run.open and run.decision_needed:
            run.decision_needed = False
            self.schedule_decision(run)

    def count_pending_decisions(self, domain_name: str, task_list: str) -> int:
        self._get_domain(domain_name)
        queue = self.decision_queues.get((domain_name, task_list), deque())
        return sum(1 for run in queue if run.open and run.scheduled_decision is not None)

    # -- activity tasks ------------------------------------------------------------------
    def enqueue_activity(self, run: EmuRun, task: ActivityTask) -> None:
        run.activities[task.activity_id] = task
        key = (self._domain_of(run).name, task.task_list)
        self.activity_queues.setdefault(key, deque()).append(task)
        self.tokens[task.token] = task
        run.latest_activity_task_timestamp = task.scheduled_at
        self._push_activity_deadline(task)
        self._condition(key).notify()

    def _push_activity_deadline(self, task: ActivityTask) -> None:
        deadline = task.next_deadline()
        if deadline is not None:
            self.push_deadline(deadline[0], task.run, "activity", task.token)

    def poll_for_activity(
        self, domain_name: str, task_list: str, identity: str | None
    ) -> ActivityTask | None:
        self._get_domain(domain_name)
        key = (domain_name, task_list)
        deadline = time.monotonic() + self.poll_timeout
        while True:
            queue = self.activity_queues.get(key)
            while queue:
                task = queue.popleft()
                if task.state == "SCHEDULED" and not caller_alive():
                    queue.appendleft(task)
                    self._condition(key).notify()  # pass the wake-up on to a live poller
                    return None
                if task.state == "SCHEDULED":
                    self.version += 1
                    self._start_activity(task, identity)
                    return task
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._condition(key).wait(remaining)

    def _start_activity(self, task: ActivityTask, identity: str | None) -> None:
        task.state = "STARTED"
        task.started_at = task.last_heartbeat_at = time.time()
        task.started_event_id = task.run.add_event(
            "ActivityTaskStarted", scheduledEventId=task.scheduled_event_id, identity=identity
        )
        self._push_activity_deadline(task)

    def count_pending_activities(self, domain_name: str, task_list: str) -> int:
        self._get_domain(domain_name)
        queue = self.activity_queues.get((domain_name, task_list), deque())
        return sum(1 for task in queue if task.state == "SCHEDULED")

    def started_activity(self, token: str) -> ActivityTask:
        task = self.tokens.get(token)
        if not isinstance(task, ActivityTask) or task.state != "STARTED":
            raise SWFUnknownResourceFault("activity task", f"taskToken={token[:16]}...")
        return task

    def finish_activity(self, token: str, event_type: str, **attributes: Any) -> None:
        task = self.started_activity(token)
        self.close_activity(task, event_type, startedEventId=task.started_event_id, **attributes)

    def close_activity(self, task: ActivityTask, event_type: str, **attributes: Any) -> None:
        run = task.run
        task.state = "CLOSED"
        self.tokens.pop(task.token, None)
        run.activities.pop(task.activity_id, None)
        run.add_event(event_type, scheduledEventId=task.scheduled_event_id, **attributes)
        self.schedule_decision(run)

    def respond_activity_task_completed(self, task_token: str, result: Any = None) -> None:
        self.finish_activity(task_token, "ActivityTaskCompleted", result=result)

    def respond_activity_task_failed(
        self, task_token: str, reason: str | None = None, details: Any = None
    ) -> None:
        self.finish_activity(task_token, "ActivityTaskFailed", reason=reason, details=details)

    def respond_activity_task_canceled(self, task_token: str, details: str | None) -> None:
        task = self.started_activity(task_token)
        self.close_activity(
            task,
            "ActivityTaskCanceled",
            startedEventId=task.started_event_id,
            details=details,
            latestCancelRequestedEventId=task.cancel_requested_event_id or None,
        )

    def heartbeat(self, task_token: str, details: str | None) -> bool:
        task = self.started_activity(task_token)
        task.last_heartbeat_at = time.time()
        if details is not None:
            task.heartbeat_details = details
        return task.cancel_requested_event_id > 0

    # -- workflow-level calls ------------------------------------------------------------
    def request_cancel(self, domain_name: str, workflow_id: str, run_id: str | None) -> None:
        run = self.get_open_run(domain_name, workflow_id, run_id)
        run.cancel_requested = True
        run.add_event("WorkflowExecutionCancelRequested")
        self.schedule_decision(run)

    def terminate_workflow_execution(
        self,
        domain_name: str,
        workflow_id: str,
        child_policy: Any = None,
        details: Any = None,
        reason: str | None = None,
        run_id: str | None = None,
    ) -> None:
        run = self.get_open_run(domain_name, workflow_id, run_id)
        self.close_run(
            run,
            "TERMINATED",
            "WorkflowExecutionTerminated",
            childPolicy=child_policy or run.child_policy,
            details=details,
            reason=reason,
            cause="OPERATOR_INITIATED",
        )

    def signal_workflow_execution(
        self,
        domain_name: str,
        signal_name: str,
        workflow_id: str,
        workflow_input: Any = None,
        run_id: str | None = None,
    ) -> None:
        run = self.get_open_run(domain_name, workflow_id, run_id)
        run.add_event("WorkflowExecutionSignaled", signalName=signal_name, input=workflow_input)
        self.schedule_decision(run)

    # -- timeouts, timers and pruning (background thread) --------------------------------
    def process_due(self, now: float) -> None:
        while self.heap and self.heap[0][0] <= now:
            _, _, run_id, kind, key = heapq.heappop(self.heap)
            run = self._find_open_run(run_id)
            if run is not None:
                self.version += 1
                self._fire(run, kind, key, now)

    def _find_open_run(self, run_id: str) -> EmuRun | None:
        for domain in self.domains:
            assert isinstance(domain, EmuDomain)
            run = domain.runs.get(run_id)
            if run is not None:
                return run if run.open else None
        return None

    def _fire(self, run: EmuRun, kind: str, key: str, now: float) -> None:
        if kind == "run":
            self.close_run(
                run,
                "TIMED_OUT",
                "WorkflowExecutionTimedOut",
                timeoutType="START_TO_CLOSE",
                childPolicy=run.child_policy,
            )
        elif kind == "decision":
            self._timeout_decision(run, key)
        elif kind == "activity":
            self._timeout_activity(run, key, now)
        elif kind == "timer":
            self._fire_timer(run, key)

    def _timeout_decision(self, run: EmuRun, token: str) -> None:
        task = run.started_decision
        if task is None or task.token != token:
            return
        run.started_decision = None
        self.tokens.pop(token, None)
        run.add_event(
            "DecisionTaskTimedOut",
            scheduledEventId=task.scheduled_event_id,
            startedEventId=task.started_event_id,
            timeoutType="START_TO_CLOSE",
        )
        run.decision_needed = False
        self.schedule_decision(run)

    def _timeout_activity(self, run: EmuRun, token: str, now: float) -> None:
        task = self.tokens.get(token)
        if not isinstance(task, ActivityTask) or task.state == "CLOSED":
            return
        deadline = task.next_deadline()
        if deadline is None:
            return
        if deadline[0] > now:  # a heartbeat moved it; check again then
            self.push_deadline(deadline[0], run, "activity", token)
            return
        self.close_activity(
            task,
            "ActivityTaskTimedOut",
            timeoutType=deadline[1],
            startedEventId=task.started_event_id,
            details=task.heartbeat_details,
        )

    def _fire_timer(self, run: EmuRun, timer_id: str) -> None:
        timer = run.timers.pop(timer_id, None)
        if timer is None:
            return
        run.add_event("TimerFired", timerId=timer_id, startedEventId=timer.started_event_id)
        self.schedule_decision(run)

    def start_timer(self, run: EmuRun, timer: Timer) -> None:
        run.timers[timer.timer_id] = timer
        self.push_deadline(timer.fire_at, run, "timer", timer.timer_id)

    def prune(self, now: float) -> None:
        """Forget closed runs past retention; rebuild the heap if it holds mostly dead entries."""
        for domain in self.domains:
            assert isinstance(domain, EmuDomain)
            while domain.closed_runs:
                run_id, run = next(iter(domain.closed_runs.items()))
                if (run.close_timestamp or 0) > now - self.retention:
                    break
                del domain.closed_runs[run_id]
                del domain.runs[run_id]
        open_ids = {run.run_id for d in self.domains for run in d.open_runs.values()}  # type: ignore[attr-defined]
        if len(self.heap) > 1000 and len(self.heap) > 4 * (len(open_ids) + 1):
            self.heap = [entry for entry in self.heap if entry[2] in open_ids]
            heapq.heapify(self.heap)
        self.drop_closed_from_queues()

    def drop_closed_from_queues(self) -> None:
        """Queues drop closed entries lazily when polled; a list nobody polls is swept here
        (and before each snapshot, which holds open runs only)."""
        for key, runs in list(self.decision_queues.items()):
            self.decision_queues[key] = deque(r for r in runs if r.open and r.scheduled_decision)
        for key, tasks in list(self.activity_queues.items()):
            self.activity_queues[key] = deque(t for t in tasks if t.state == "SCHEDULED")
        for queues in (self.decision_queues, self.activity_queues):
            for key in [k for k, q in queues.items() if not q]:
                del queues[key]

    def run_timeouts(self, stop: threading.Event) -> None:
        """Background loop: fire due deadlines, prune every few seconds."""
        next_prune = 0.0
        with self.lock:
            while not stop.is_set():
                now = time.time()
                self.process_due(now)
                if now >= next_prune:
                    self.prune(now)
                    next_prune = now + 5.0
                wait = 0.5 if not self.heap else min(0.5, max(0.0, self.heap[0][0] - time.time()))
                self.heap_changed.wait(wait)


def list_filter(run: EmuRun, params: dict[str, Any], time_key: str) -> bool:
    """True when the run matches the List*WorkflowExecutions filters in params."""
    time_filter = params.get(time_key)
    if time_filter:
        stamp = run.start_timestamp if time_key == "startTimeFilter" else run.close_timestamp
        stamp = stamp or 0.0
        if stamp < float(time_filter.get("oldestDate", 0)):
            return False
        if "latestDate" in time_filter and stamp > float(time_filter["latestDate"]):
            return False
    wf_type = run.workflow_type
    checks: dict[str, Callable[[dict[str, Any]], bool]] = {
        "tagFilter": lambda f: f["tag"] in (run.tag_list or []),
        "executionFilter": lambda f: bool(f["workflowId"] == run.workflow_id),
        "typeFilter": lambda f: (
            (f["name"], f.get("version", wf_type.version)) == (wf_type.name, wf_type.version)
        ),
        "closeStatusFilter": lambda f: bool(f["status"] == run.close_status),
    }
    return all(not params.get(name) or check(params[name]) for name, check in checks.items())


def require(condition: bool, message: str) -> None:
    if not condition:
        raise SWFValidationException(message)
