"""Fold SWF history events into an execution state — pure, no AWS, no plan needed.

Public API:

- ``fold(events, prior=None) -> ExecutionState``: ``events`` are SWF API event dicts as boto3
  returns them (``eventId``, ``eventType``, ``<lowerCamelType>EventAttributes``). Give it a
  whole history, or pages of it one after another (``prior`` = the state so far), or the
  incremental slice of a decision task polled with ``startAtPreviousStartedEvent=True``: events
  with ``eventId <= prior.last_event_id`` are skipped, so overlaps are harmless. Unknown event
  types are ignored.
- ``ExecutionState`` / ``StepState`` / ``Attempt``: frozen. Besides what the decider needs, the
  state keeps the facts clients ask about (every attempt's activity type, times, worker and
  result, the run's times and outcome), so that :mod:`cpe.job_summary` answers GET_JOB_STATUS /
  GET_ACTIVITY_STATUS / GET_ACTIVITY_LIST from the same fold.
- ``ExecutionState.open_attempt(text)``: the open attempt a client names (an activityId, or a
  step name), the rule shared by the CANCEL_ACTIVITY handler and the fold of its signal.
- The activity/timer naming scheme, shared with :mod:`cpe.decide`:
  ``activity_id(step, item, attempt)``, ``parse_activity_id(text)``, ``encode_control(...)``,
  ``decode_control(text)``. ActivityIds are ``step``, ``step#n`` (attempt n >= 2),
  ``step[i]`` and ``step[i]#n`` (for_each item i); every scheduled activity and timer carries a
  JSON ``control`` ``{"kind", "step", "attempt", "item"}``, so folding does not depend on ids
  except for the ``*Failed`` decision events, which carry no control.

Statuses: pending, scheduled, running, succeeded, failed, skipped, canceled, retry-waiting.
``StepState.output`` is the activity's decoded result; ``cpe.decide.step_outputs`` applies the
plan's ``outputs_spec`` to it. A for_each step keeps one ``StepState`` per item in ``items``.
Statuses that only the decider can establish (skipped, a failed input, a for_each step's end)
are recorded by it as ``cpe.step`` markers, so the history alone tells every step's status.

Cancelling one activity: the input poller signals the run with ``cpe.cancel_activity``
(input ``{"activityId": ...}``); the fold marks that attempt ``cancel_signaled`` if it is open
(unknown or closed ids are ignored), and :mod:`cpe.decide` asks SWF to cancel it once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

PENDING = "pending"
SCHEDULED = "scheduled"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
CANCELED = "canceled"
CANCELED_REASON = "ActivityTaskCanceled"  # a canceled attempt fails its step with this reason
RETRY_WAITING = "retry-waiting"
OPEN_STATUSES = frozenset({SCHEDULED, RUNNING})
FINAL_STATUSES = frozenset({SUCCEEDED, FAILED, SKIPPED, CANCELED})

MARKER_NAME = "cpe.step"
CANCEL_ACTIVITY_SIGNAL = "cpe.cancel_activity"
KIND_ACTIVITY = "activity"
KIND_RETRY = "retry"
KIND_CONTINUE = "continue"
RETRY_TIMER_PREFIX = "retry-"
CONTINUE_TIMER_PREFIX = "continue-"
# SWF causes that only mean "new events arrived, decide again".
_TRANSIENT_CAUSES = frozenset({"UNHANDLED_DECISION"})

_ACTIVITY_ID = re.compile(r"^(?P<step>[^\[\]#]+)(?:\[(?P<item>\d+)\])?(?:#(?P<attempt>\d+))?$")


# ----------------------------------------------------------------------------- naming scheme


@dataclass(frozen=True)
class Control:
    """What an activity or timer is for; its JSON is the SWF ``control`` field."""

    kind: str
    step: str | None = None
    attempt: int = 1
    item: int | None = None


def activity_id(step: str, item: int | None = None, attempt: int = 1) -> str:
    """The SWF activityId of an attempt: ``step``, ``step#2``, ``step[3]``, ``step[3]#2``."""
    item_part = f"[{item}]" if item is not None else ""
    attempt_part = f"#{attempt}" if attempt > 1 else ""
    return f"{step}{item_part}{attempt_part}"


def parse_activity_id(text: str) -> Control | None:
    """The step, item and attempt an activityId names, or ``None`` if it is not ours."""
    match = _ACTIVITY_ID.match(text)
    if match is None:
        return None
    item, attempt = match.group("item"), match.group("attempt")
    return Control(
        kind=KIND_ACTIVITY,
        step=match.group("step"),
        item=int(item) if item is not None else None,
        attempt=int(attempt) if attempt is not None else 1,
    )


def encode_control(control: Control) -> str:
    return json.dumps(
        {
            "kind": control.kind,
            "step": control.step,
            "attempt": control.attempt,
            "item": control.item,
        },
        sort_keys=True,
    )


def decode_control(text: str | None) -> Control | None:
    """The :class:`Control` in an SWF ``control`` string, or ``None`` if it is not ours."""
    try:
        raw = json.loads(text or "")
        return Control(
            kind=str(raw.get("kind", KIND_ACTIVITY)),
            step=raw.get("step"),
            attempt=int(raw.get("attempt", 1)),
            item=raw.get("item"),
        )
    except (ValueError, TypeError, AttributeError):
        return None


def retry_timer_id(step: str, item: int | None, attempt: int) -> str:
    """Timer that delays ``attempt``; named after the activityId the attempt will get."""
    return RETRY_TIMER_PREFIX + activity_id(step, item, attempt)


def _control_of_timer_id(timer_id: str) -> Control | None:
    if timer_id.startswith(CONTINUE_TIMER_PREFIX):
        return Control(kind=KIND_CONTINUE)
    if timer_id.startswith(RETRY_TIMER_PREFIX):
        parsed = parse_activity_id(timer_id[len(RETRY_TIMER_PREFIX) :])
        return replace(parsed, kind=KIND_RETRY) if parsed else None
    return None


# ----------------------------------------------------------------------------- state

# What one activity attempt did, in SWF's terms (a step's status is the decider's view).
ATTEMPT_SCHEDULED = "scheduled"
ATTEMPT_STARTED = "started"
ATTEMPT_COMPLETED = "completed"
ATTEMPT_FAILED = "failed"
ATTEMPT_TIMED_OUT = "timed_out"
ATTEMPT_CANCELED = "canceled"


@dataclass(frozen=True)
class Attempt:
    """One activity attempt as its SWF events tell it: for status answers, not for deciding."""

    activity_id: str
    activity_type: tuple[str, str] | None
    status: str = ATTEMPT_SCHEDULED
    scheduled_at: float | None = None
    started_at: float | None = None
    closed_at: float | None = None
    worker: str | None = None
    # completed: the decoded result (as sent if not JSON); else {reason, details} once closed
    result: Any = None
    cancel_requested: bool = False


@dataclass(frozen=True)
class StepState:
    """One step (or one for_each item): the latest attempt's status and what it produced."""

    status: str = PENDING
    attempts: int = 0
    activity_id: str | None = None
    input: str | None = None
    output: Any = None
    reason: str | None = None
    details: str | None = None
    retryable: bool = False
    cancel_requested: bool = False  # the decider asked SWF to cancel the latest attempt
    cancel_signaled: bool = False  # a client asked (CANCEL_ACTIVITY) to cancel it
    items: Mapping[int, StepState] = field(default_factory=dict)
    attempt_log: tuple[Attempt, ...] = ()  # every attempt of this step (or item), latest last
    # Per-object memo for values derived from this (immutable) state, e.g. evaluated outputs;
    # states are shared between incremental folds, so derived values are computed once.
    memo: dict[Any, Any] = field(
        init=False, default_factory=dict, compare=False, repr=False, hash=False
    )

    def to_json(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "status": self.status,
            "attempts": self.attempts,
            "activityId": self.activity_id,
            "output": self.output,
            "reason": self.reason,
            "details": self.details,
        }
        if self.items:
            summary["items"] = [
                {"index": index, **self.items[index].to_json()} for index in sorted(self.items)
            ]
        return summary


NEW_STEP = StepState()


@dataclass(frozen=True)
class ExecutionState:
    """What the history says so far. ``timers`` maps open timer ids to their control."""

    last_event_id: int = 0
    started: bool = False
    workflow_type: Mapping[str, str] | None = None
    job_input: Any = None
    job_input_error: str | None = None
    cancel_requested: bool = False
    closed: bool = False
    close_status: str | None = None
    decision_failure: str | None = None
    steps: Mapping[str, StepState] = field(default_factory=dict)
    timers: Mapping[str, Control] = field(default_factory=dict)
    open_activities: Mapping[int, Control] = field(default_factory=dict)
    # For status answers only: when the run started and closed, and how it ended.
    started_at: float | None = None
    closed_at: float | None = None
    result: Any = None  # the decoded workflow result once completed
    close_reason: str | None = None  # failed or terminated
    close_details: str | None = None

    def step(self, name: str) -> StepState:
        return self.steps.get(name, NEW_STEP)

    def open_attempt(self, text: str) -> Attempt | None:
        """The open attempt ``text`` names: its activityId, or the name of a step (not a
        for_each step) whose latest attempt is open; ``None`` when nothing open matches."""
        ref = parse_activity_id(text)
        if ref is None or ref.step is None:
            return None
        step = self.steps.get(ref.step, NEW_STEP)
        slot = step if ref.item is None else step.items.get(ref.item, NEW_STEP)
        named = text in (slot.activity_id, ref.step if ref.item is None else None)
        if not (named and slot.status in OPEN_STATUSES and slot.attempt_log):
            return None
        return slot.attempt_log[-1]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary: workflow flags plus every step's status, attempts and output."""
        return {
            "lastEventId": self.last_event_id,
            "workflowType": dict(self.workflow_type) if self.workflow_type else None,
            "cancelRequested": self.cancel_requested,
            "closed": self.closed,
            "closeStatus": self.close_status,
            "steps": {name: step.to_json() for name, step in self.steps.items()},
        }


# ----------------------------------------------------------------------------- folding


def _attributes(event: Mapping[str, Any]) -> Mapping[str, Any]:
    event_type = str(event.get("eventType", ""))
    key = event_type[:1].lower() + event_type[1:] + "EventAttributes"
    attributes = event.get(key)
    return attributes if isinstance(attributes, Mapping) else {}


_Frozen = TypeVar("_Frozen", StepState, Attempt)


def _evolve(state: _Frozen, **changes: Any) -> _Frozen:
    """``dataclasses.replace`` for the fold's hot path (it runs per event, and ``replace``
    re-reads the fields each call): a copy with ``changes``, and a fresh memo."""
    fields = state.__dict__
    assert all(name in fields for name in changes), changes  # replace() would refuse a typo
    copy = object.__new__(type(state))
    copy.__dict__.update(fields, **changes)
    if isinstance(copy, StepState):
        object.__setattr__(copy, "memo", {})  # derived values belong to the old state
    return copy


def _epoch(value: Any) -> float | None:
    """An event timestamp as UNIX seconds (boto3 gives datetimes, raw JSON gives numbers)."""
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _decode_json(text: Any) -> tuple[Any, str | None]:
    if text is None:
        return None, None
    try:
        return json.loads(text), None
    except (TypeError, ValueError) as error:
        return None, f"not JSON: {error}"


class _Folder:
    """Mutable working copy of a state; one method per SWF event type it uses."""

    def __init__(self, prior: ExecutionState) -> None:
        self.fields: dict[str, Any] = {
            name: getattr(prior, name) for name in ExecutionState.__dataclass_fields__
        }
        self.steps = dict(prior.steps)
        self.timers = dict(prior.timers)
        self.open_activities = dict(prior.open_activities)
        self.timestamp: Any = None  # of the event being folded; see ``now``
        self.handlers: dict[str, Callable[[Mapping[str, Any], int], None]] = {
            "WorkflowExecutionStarted": self.workflow_started,
            "WorkflowExecutionCancelRequested": self.cancel_requested,
            "WorkflowExecutionSignaled": self.signaled,
            "ActivityTaskScheduled": self.activity_scheduled,
            "ScheduleActivityTaskFailed": self.schedule_failed,
            "ActivityTaskStarted": self.activity_started,
            "ActivityTaskCompleted": self.activity_completed,
            "ActivityTaskFailed": self.activity_failed,
            "ActivityTaskTimedOut": self.activity_timed_out,
            "ActivityTaskCanceled": self.activity_canceled,
            "ActivityTaskCancelRequested": self.activity_cancel_requested,
            "RequestCancelActivityTaskFailed": self.activity_cancel_requested,
            "MarkerRecorded": self.marker_recorded,
            "TimerStarted": self.timer_started,
            "TimerFired": self.timer_fired,
            "TimerCanceled": self.timer_canceled,
            "CancelTimerFailed": self.timer_gone,
            "StartTimerFailed": self.start_timer_failed,
        }
        for failed in (
            "CompleteWorkflowExecutionFailed",
            "FailWorkflowExecutionFailed",
            "CancelWorkflowExecutionFailed",
            "ContinueAsNewWorkflowExecutionFailed",
        ):
            self.handlers[failed] = self._close_decision_failed(failed)
        for closing, status in {
            "WorkflowExecutionCompleted": "COMPLETED",
            "WorkflowExecutionFailed": "FAILED",
            "WorkflowExecutionCanceled": "CANCELED",
            "WorkflowExecutionTimedOut": "TIMED_OUT",
            "WorkflowExecutionTerminated": "TERMINATED",
            "WorkflowExecutionContinuedAsNew": "CONTINUED_AS_NEW",
        }.items():
            self.handlers[closing] = self._closer(status)

    def apply(self, event: Mapping[str, Any]) -> None:
        event_id = int(event.get("eventId", 0))
        if event_id <= self.fields["last_event_id"]:
            return  # already folded: pages and incremental slices may overlap
        self.fields["last_event_id"] = event_id
        self.timestamp = event.get("eventTimestamp")
        handler = self.handlers.get(str(event.get("eventType")))
        if handler is not None:
            handler(_attributes(event), event_id)

    @property
    def now(self) -> float | None:
        """The folded event's time as UNIX seconds (converted only where it is kept)."""
        return _epoch(self.timestamp)

    def freeze(self) -> ExecutionState:
        return ExecutionState(
            **{
                **self.fields,
                "steps": self.steps,
                "timers": self.timers,
                "open_activities": self.open_activities,
            }
        )

    # -- slots: a step, or one item of a for_each step

    def slot(self, ref: Control) -> StepState:
        step = self.steps.get(str(ref.step), NEW_STEP)
        return step if ref.item is None else step.items.get(ref.item, NEW_STEP)

    def update(self, ref: Control, **changes: Any) -> None:
        name = str(ref.step)
        step = self.steps.get(name, NEW_STEP)
        if ref.item is None:
            self.steps[name] = _evolve(step, **changes)
            return
        items = dict(step.items)
        items[ref.item] = _evolve(items.get(ref.item, NEW_STEP), **changes)
        # A for_each step ends only by the decider's marker; until then its items make it run.
        status = step.status if step.status in FINAL_STATUSES else RUNNING
        self.steps[name] = _evolve(step, items=items, status=status)

    def close_activity(
        self, attributes: Mapping[str, Any], outcome: str, result: Any, **changes: Any
    ) -> None:
        ref = self.open_activities.pop(int(attributes.get("scheduledEventId", 0)), None)
        if ref is not None:
            log = self.attempt_log(ref, status=outcome, closed_at=self.now, result=result)
            self.update(ref, attempt_log=log, **changes)

    def attempt_log(self, ref: Control, **changes: Any) -> tuple[Attempt, ...]:
        """The slot's attempts with ``changes`` applied to the attempt ``ref`` names."""
        log = self.slot(ref).attempt_log
        wanted = activity_id(str(ref.step), ref.item, ref.attempt)
        for index in range(len(log) - 1, -1, -1):
            if log[index].activity_id == wanted:
                return (*log[:index], _evolve(log[index], **changes), *log[index + 1 :])
        return log

    # -- workflow events

    def workflow_started(self, attributes: Mapping[str, Any], _: int) -> None:
        job_input, error = _decode_json(attributes.get("input"))
        workflow_type = attributes.get("workflowType")
        self.fields.update(
            started=True,
            job_input=job_input,
            job_input_error=error,
            workflow_type=dict(workflow_type) if isinstance(workflow_type, Mapping) else None,
            started_at=self.now,
        )

    def cancel_requested(self, attributes: Mapping[str, Any], _: int) -> None:
        self.fields["cancel_requested"] = True

    def signaled(self, attributes: Mapping[str, Any], _: int) -> None:
        """A client's CANCEL_ACTIVITY: mark the attempt it names, if that one is open."""
        if attributes.get("signalName") != CANCEL_ACTIVITY_SIGNAL:
            return
        payload, error = _decode_json(attributes.get("input"))
        text_id = payload.get("activityId") if isinstance(payload, dict) else None
        if error is not None or not isinstance(text_id, str):
            return
        ref = parse_activity_id(text_id)
        if ref is None:
            return
        slot = self.slot(ref)
        if slot.activity_id == text_id and slot.status in OPEN_STATUSES:
            self.update(ref, cancel_signaled=True)

    def _closer(self, status: str) -> Callable[[Mapping[str, Any], int], None]:
        def close(attributes: Mapping[str, Any], _: int) -> None:
            self.fields.update(closed=True, close_status=status, closed_at=self.now)
            if "result" in attributes:
                self.fields["result"] = _decode_json(attributes["result"])[0]
            if "reason" in attributes or "details" in attributes:
                self.fields.update(
                    close_reason=attributes.get("reason"), close_details=attributes.get("details")
                )

        return close

    def _close_decision_failed(self, event_type: str) -> Callable[[Mapping[str, Any], int], None]:
        def failed(attributes: Mapping[str, Any], _: int) -> None:
            cause = str(attributes.get("cause", "UNKNOWN"))
            if cause not in _TRANSIENT_CAUSES:
                self.fields["decision_failure"] = f"{event_type}: {cause}"

        return failed

    # -- activity events

    def activity_scheduled(self, attributes: Mapping[str, Any], event_id: int) -> None:
        text_id = str(attributes.get("activityId", ""))
        ref = decode_control(attributes.get("control")) or parse_activity_id(text_id)
        if ref is None or ref.step is None:
            return  # not one of ours
        self.open_activities[event_id] = ref
        attempt = Attempt(text_id, _type_of(attributes), scheduled_at=self.now)
        self.update(
            ref,
            status=SCHEDULED,
            attempts=ref.attempt,
            activity_id=text_id,
            input=attributes.get("input"),
            output=None,
            reason=None,
            details=None,
            retryable=False,
            cancel_requested=False,
            cancel_signaled=False,
            attempt_log=(*self.slot(ref).attempt_log, attempt),
        )

    def schedule_failed(self, attributes: Mapping[str, Any], _: int) -> None:
        text_id = str(attributes.get("activityId", ""))
        ref = parse_activity_id(text_id)
        if ref is None:
            return
        cause = attributes.get("cause", "UNKNOWN")
        reason = f"ScheduleActivityTaskFailed: {cause}"
        details = f"SWF could not schedule activity {text_id}: {cause}"
        attempt = Attempt(
            text_id,
            _type_of(attributes),
            status=ATTEMPT_FAILED,
            closed_at=self.now,
            result={"reason": reason, "details": details},
        )
        self.update(
            ref,
            status=FAILED,
            attempts=ref.attempt,
            activity_id=text_id,
            reason=reason,
            details=details,
            retryable=True,
            attempt_log=(*self.slot(ref).attempt_log, attempt),
        )

    def activity_started(self, attributes: Mapping[str, Any], _: int) -> None:
        ref = self.open_activities.get(int(attributes.get("scheduledEventId", 0)))
        if ref is None:
            return
        log = self.attempt_log(
            ref, status=ATTEMPT_STARTED, started_at=self.now, worker=attributes.get("identity")
        )
        if self.slot(ref).status == SCHEDULED:
            self.update(ref, status=RUNNING, attempt_log=log)
        else:
            self.update(ref, attempt_log=log)

    def activity_completed(self, attributes: Mapping[str, Any], _: int) -> None:
        output, error = _decode_json(attributes.get("result"))
        if error is None:
            self.close_activity(
                attributes, ATTEMPT_COMPLETED, output, status=SUCCEEDED, output=output
            )
            return
        reason, details = "InvalidResult", f"the activity result is {error}"
        self.close_activity(
            attributes,
            ATTEMPT_COMPLETED,
            attributes.get("result"),  # shown as sent: it is not JSON
            status=FAILED,
            reason=reason,
            details=details,
        )

    def activity_failed(self, attributes: Mapping[str, Any], _: int) -> None:
        reason = attributes.get("reason") or "ActivityTaskFailed"
        details = attributes.get("details")
        self.close_activity(
            attributes,
            ATTEMPT_FAILED,
            {"reason": reason, "details": details},
            status=FAILED,
            reason=reason,
            details=details,
            retryable=True,
        )

    def activity_timed_out(self, attributes: Mapping[str, Any], _: int) -> None:
        reason = f"ActivityTaskTimedOut: {attributes.get('timeoutType', 'UNKNOWN')}"
        details = attributes.get("details")
        self.close_activity(
            attributes,
            ATTEMPT_TIMED_OUT,
            {"reason": reason, "details": details},
            status=FAILED,
            reason=reason,
            details=details,
            retryable=True,
        )

    def activity_canceled(self, attributes: Mapping[str, Any], _: int) -> None:
        reason, details = CANCELED_REASON, attributes.get("details")
        self.close_activity(
            attributes,
            ATTEMPT_CANCELED,
            {"reason": reason, "details": details},
            status=CANCELED,
            reason=reason,
            details=details,
        )

    def activity_cancel_requested(self, attributes: Mapping[str, Any], _: int) -> None:
        text_id = str(attributes.get("activityId", ""))
        ref = parse_activity_id(text_id)
        if ref is not None and self.slot(ref).activity_id == text_id:
            log = self.attempt_log(ref, cancel_requested=True)
            self.update(ref, cancel_requested=True, attempt_log=log)

    def marker_recorded(self, attributes: Mapping[str, Any], _: int) -> None:
        if attributes.get("markerName") != MARKER_NAME:
            return
        record, error = _decode_json(attributes.get("details"))
        if error is not None or not isinstance(record, dict) or "step" not in record:
            return
        self.update(
            Control(kind=KIND_ACTIVITY, step=str(record["step"])),
            status=str(record.get("status", FAILED)),
            reason=record.get("reason"),
            details=record.get("details"),
            retryable=False,
        )

    # -- timers

    def timer_started(self, attributes: Mapping[str, Any], _: int) -> None:
        timer_id = str(attributes.get("timerId", ""))
        control = decode_control(attributes.get("control")) or _control_of_timer_id(timer_id)
        if control is None:
            return
        self.timers[timer_id] = control
        if control.kind == KIND_RETRY:
            self.update(control, status=RETRY_WAITING)

    def timer_fired(self, attributes: Mapping[str, Any], _: int) -> None:
        control = self.timers.pop(str(attributes.get("timerId", "")), None)
        if control is not None and control.kind == KIND_RETRY:
            self.update(control, status=PENDING)  # attempts stays: the next attempt is +1

    def timer_canceled(self, attributes: Mapping[str, Any], _: int) -> None:
        control = self.timers.pop(str(attributes.get("timerId", "")), None)
        if control is not None and control.kind == KIND_RETRY:
            self.update(control, status=CANCELED, reason="retry canceled", retryable=False)

    def timer_gone(self, attributes: Mapping[str, Any], _: int) -> None:
        self.timers.pop(str(attributes.get("timerId", "")), None)

    def start_timer_failed(self, attributes: Mapping[str, Any], _: int) -> None:
        timer_id = str(attributes.get("timerId", ""))
        cause = attributes.get("cause", "UNKNOWN")
        control = _control_of_timer_id(timer_id)
        if control is None:
            return
        if control.kind == KIND_CONTINUE:
            self.fields["decision_failure"] = f"StartTimerFailed: {cause}"
            return
        details = f"SWF could not start retry timer {timer_id}: {cause}"
        reason = f"StartTimerFailed: {cause}"
        self.update(control, status=FAILED, reason=reason, details=details, retryable=False)


def _type_of(attributes: Mapping[str, Any]) -> tuple[str, str] | None:
    activity_type = attributes.get("activityType")
    if not isinstance(activity_type, Mapping):
        return None
    return (str(activity_type.get("name")), str(activity_type.get("version")))


def fold(
    events: Iterable[Mapping[str, Any]], prior: ExecutionState | None = None
) -> ExecutionState:
    """The state after ``events``, continuing from ``prior`` (events already in it are skipped)."""
    folder = _Folder(prior or ExecutionState())
    for event in events:
        folder.apply(event)
    return folder.freeze()
