"""Summarise one run's SWF history for clients: the job's status and each activity's state.

Pure: takes the history events (as boto3 returns them) and the run's plan, returns plain
JSON-ready dicts. One record per activityId (a step's first attempt is the step name, a
retry ``<step>#<n>``, a fan-out item ``<step>[<i>]``), and one summary per plan step: the
state of its latest activity, or ``pending`` when it has not been scheduled yet (``not_run``
once the workflow is closed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cpe.messages import decode_json
from cpe.plan import Plan

# SWF's closing events and the job status each one means.
_CLOSING = {
    "WorkflowExecutionCompleted": "COMPLETED",
    "WorkflowExecutionFailed": "FAILED",
    "WorkflowExecutionCanceled": "CANCELED",
    "WorkflowExecutionTerminated": "TERMINATED",
    "WorkflowExecutionTimedOut": "TIMED_OUT",
    "WorkflowExecutionContinuedAsNew": "CONTINUED_AS_NEW",
}
_ACTIVITY_ENDS = {
    "ActivityTaskCompleted": "completed",
    "ActivityTaskFailed": "failed",
    "ActivityTaskTimedOut": "timed_out",
    "ActivityTaskCanceled": "canceled",
}
_STEP_OF_ID = re.compile(r"^(?P<step>.*?)(#\d+|\[\d+\])*$")


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _attributes(event: Mapping[str, Any]) -> Mapping[str, Any]:
    kind = str(event["eventType"])
    key = kind[0].lower() + kind[1:] + "EventAttributes"
    value = event.get(key, {})
    return value if isinstance(value, Mapping) else {}


def _step_of(activity_id: str, control: str | None) -> str:
    """The plan step an activity belongs to: its ``control`` says so, else its id's prefix."""
    if control:
        try:
            step = json.loads(control).get("step")
        except (ValueError, AttributeError):
            step = None
        if isinstance(step, str):
            return step
    match = _STEP_OF_ID.match(activity_id)
    return match["step"] if match else activity_id


class _Activities:
    """Activity records keyed by activityId, updated event by event."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self._scheduled: dict[int, str] = {}

    def scheduled(self, event_id: int, attrs: Mapping[str, Any], at: float | None) -> None:
        activity_id = str(attrs.get("activityId", ""))
        activity_type = attrs.get("activityType", {})
        self._scheduled[event_id] = activity_id
        self.by_id[activity_id] = {
            "activityId": activity_id,
            "activityType": {
                "name": activity_type.get("name"),
                "version": activity_type.get("version"),
            },
            "step": _step_of(activity_id, attrs.get("control")),
            "status": "scheduled",
            "scheduledAt": at,
        }

    def record_of(self, attrs: Mapping[str, Any]) -> dict[str, Any] | None:
        activity_id = self._scheduled.get(int(attrs.get("scheduledEventId", 0)))
        return self.by_id.get(activity_id) if activity_id is not None else None

    def update(self, kind: str, attrs: Mapping[str, Any], at: float | None) -> None:
        record = self.record_of(attrs)
        if record is None:
            return
        if kind == "ActivityTaskStarted":
            record.update(status="started", startedAt=at, worker=attrs.get("identity"))
            return
        record.update(status=_ACTIVITY_ENDS[kind], closedAt=at)
        if kind == "ActivityTaskCompleted":
            record["result"] = decode_json(attrs.get("result"))
        elif kind == "ActivityTaskFailed":
            record["result"] = {"reason": attrs.get("reason"), "details": attrs.get("details")}
        elif kind == "ActivityTaskTimedOut":
            record["result"] = {"reason": f"TIMED_OUT:{attrs.get('timeoutType')}"}


def summarize(events: Iterable[Mapping[str, Any]], plan: Plan | None) -> dict[str, Any]:
    """``{status, workflowType, startTime, closeTime, steps, activities, result|reason}``."""
    activities = _Activities()
    summary: dict[str, Any] = {"status": "OPEN", "cancelRequested": False}
    for event in events:
        kind = str(event["eventType"])
        attrs = _attributes(event)
        at = _epoch(event.get("eventTimestamp"))
        if kind == "WorkflowExecutionStarted":
            workflow_type = attrs.get("workflowType", {})
            summary["workflowType"] = {
                "name": workflow_type.get("name"),
                "version": workflow_type.get("version"),
            }
            summary["startTime"] = at
        elif kind == "WorkflowExecutionCancelRequested":
            summary["cancelRequested"] = True
        elif kind == "ActivityTaskScheduled":
            activities.scheduled(int(event["eventId"]), attrs, at)
        elif kind == "ActivityTaskStarted" or kind in _ACTIVITY_ENDS:
            activities.update(kind, attrs, at)
        elif kind in _CLOSING:
            summary.update(status=_CLOSING[kind], closeTime=at, **_closing_fields(kind, attrs))
    records = list(activities.by_id.values())
    summary["activities"] = records
    summary["steps"] = _steps(records, plan, closed=summary["status"] != "OPEN")
    return summary


def _closing_fields(kind: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "WorkflowExecutionCompleted":
        return {"result": decode_json(attrs.get("result"))}
    if kind in ("WorkflowExecutionFailed", "WorkflowExecutionTerminated"):
        return {"reason": attrs.get("reason"), "details": attrs.get("details")}
    return {}


def _steps(
    records: list[dict[str, Any]], plan: Plan | None, *, closed: bool
) -> list[dict[str, Any]]:
    """One entry per plan step (in plan order), then any step only the history knows."""
    by_step: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_step.setdefault(record["step"], []).append(record)
    names = [step.name for step in plan.steps] if plan is not None else []
    names += [name for name in by_step if name not in names]
    steps: list[dict[str, Any]] = []
    for name in names:
        runs = by_step.get(name, [])
        if not runs:
            steps.append(
                {"name": name, "status": "not_run" if closed else "pending", "attempts": 0}
            )
            continue
        latest = runs[-1]
        steps.append(
            {
                "name": name,
                "status": latest["status"],
                "attempts": len(runs),
                "activityIds": [r["activityId"] for r in runs],
            }
        )
    return steps


def find_activity(summary: Mapping[str, Any], activity_id: str) -> dict[str, Any] | None:
    """An activity by its id, or the latest activity of the step of that name."""
    latest: dict[str, Any] | None = None
    for record in summary.get("activities", []):
        if record["activityId"] == activity_id:
            return dict(record)
        if record["step"] == activity_id:
            latest = record
    return dict(latest) if latest is not None else None
