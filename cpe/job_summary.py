"""What clients see of a run: the JOB_STATUS / ACTIVITY_STATUS / ACTIVITY_LIST view of its
folded state — pure, no AWS.

The state comes from :func:`cpe.state.fold`, the same fold the decider decides on, so a status
answer and the decider never disagree about a step (skipped steps, failed inputs and for_each
ends come from the decider's markers; every attempt's times, worker and result from SWF's
activity events). This module only renames and arranges:

- one entry per plan step, in plan order (then any step only the history knows): ``pending``
  until scheduled, and a for_each step lists its ``items``;
- one record per activity attempt (``Step``, ``Step#2``, ``Step[3]``, ...).

Statuses are the wire protocol's (docs/protocol.md): a step's ``running`` is shown as
``started``, ``succeeded`` as ``completed``, ``retry-waiting`` as ``retry_waiting``, and a
step failed by a timeout as ``timed_out``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cpe.plan import Plan
from cpe.state import (
    FAILED,
    RETRY_WAITING,
    RUNNING,
    SUCCEEDED,
    Attempt,
    ExecutionState,
    StepState,
    parse_activity_id,
)

_WIRE_STATUS = {RUNNING: "started", SUCCEEDED: "completed", RETRY_WAITING: "retry_waiting"}
_TIMED_OUT_REASON = "ActivityTaskTimedOut"


def summarize(state: ExecutionState, plan: Plan | None) -> dict[str, Any]:
    """``{status, workflowType, cancelRequested, startTime, steps, activities}``, plus
    ``closeTime`` and ``result`` (completed) or ``reason`` + ``details`` once closed."""
    summary: dict[str, Any] = {
        "status": state.close_status or "OPEN",
        "workflowType": dict(state.workflow_type) if state.workflow_type else None,
        "cancelRequested": state.cancel_requested,
        "startTime": state.started_at,
    }
    if state.closed:
        summary["closeTime"] = state.closed_at
        summary.update(_outcome(state))
    names = _step_names(state, plan)
    for_each = {step.name for step in plan.steps if step.for_each} if plan else set()
    summary["steps"] = [_step_entry(name, state.step(name), name in for_each) for name in names]
    summary["activities"] = [
        _activity_record(name, item, attempt)
        for name in names
        for item, slot in _slots(state.step(name))
        for attempt in slot.attempt_log
    ]
    return summary


def find_activity(summary: Mapping[str, Any], activity_id: str) -> dict[str, Any] | None:
    """An attempt by its activityId, or the latest attempt of the step of that name."""
    latest: dict[str, Any] | None = None
    for record in summary.get("activities", []):
        if record["activityId"] == activity_id:
            return dict(record)
        if record["step"] == activity_id:
            latest = record
    return dict(latest) if latest is not None else None


def activity_record(attempt: Attempt) -> dict[str, Any]:
    """The record of one attempt (as in ACTIVITY_STATUS), from its activityId."""
    ref = parse_activity_id(attempt.activity_id)
    step = ref.step if ref and ref.step else attempt.activity_id
    return _activity_record(step, ref.item if ref else None, attempt)


def _outcome(state: ExecutionState) -> dict[str, Any]:
    if state.close_status == "COMPLETED":
        return {"result": state.result}
    if state.close_status in ("FAILED", "TERMINATED"):
        return {"reason": state.close_reason, "details": state.close_details}
    return {}


def _step_names(state: ExecutionState, plan: Plan | None) -> list[str]:
    names = [step.name for step in plan.steps] if plan is not None else []
    return names + [name for name in state.steps if name not in names]


def _slots(step: StepState) -> Iterator[tuple[int | None, StepState]]:
    """The step's own attempts, then each for_each item's, in index order."""
    yield None, step
    for index in sorted(step.items):
        yield index, step.items[index]


def _wire_status(slot: StepState) -> str:
    if slot.status == FAILED and (slot.reason or "").startswith(_TIMED_OUT_REASON):
        return "timed_out"
    return _WIRE_STATUS.get(slot.status, slot.status)


def _slot_entry(slot: StepState) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "status": _wire_status(slot),
        "attempts": slot.attempts,
        "activityIds": [attempt.activity_id for attempt in slot.attempt_log],
    }
    if slot.reason is not None:
        entry.update(reason=slot.reason, details=slot.details)
    if slot.cancel_signaled or slot.cancel_requested:
        entry["cancelRequested"] = True
    return entry


def _step_entry(name: str, step: StepState, for_each: bool) -> dict[str, Any]:
    entry = {"name": name, **_slot_entry(step)}
    if for_each or step.items:
        entry["items"] = [
            {"index": index, **_slot_entry(step.items[index])} for index in sorted(step.items)
        ]
        entry["activityIds"] = [
            attempt.activity_id for _, slot in _slots(step) for attempt in slot.attempt_log
        ]
    return entry


def _activity_record(step: str, item: int | None, attempt: Attempt) -> dict[str, Any]:
    ref = parse_activity_id(attempt.activity_id)
    activity_type = attempt.activity_type
    record: dict[str, Any] = {
        "activityId": attempt.activity_id,
        "step": step,
        "attempt": ref.attempt if ref else 1,
        "activityType": (
            {"name": activity_type[0], "version": activity_type[1]} if activity_type else None
        ),
        "status": attempt.status,
        "scheduledAt": attempt.scheduled_at,
        "startedAt": attempt.started_at,
        "closedAt": attempt.closed_at,
        "worker": attempt.worker,
        "result": attempt.result,
        "cancelRequested": attempt.cancel_requested,
    }
    if item is not None:
        record["item"] = item
    return record
