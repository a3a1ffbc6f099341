"""What the decider tells a job's client: events built from its decisions and new history.

Pure: (decisions just accepted by SWF, the history events new to this decision) -> the events
for the client's output queue, in the order they happened. Shapes come from cpe.messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cpe import messages

ActivityType = tuple[str, str]
# The plan engine tags retry timers with a JSON control of this kind (see cpe.decide).
RETRY_TIMER = "retry"
CLOSE_DECISIONS = frozenset(
    {"CompleteWorkflowExecution", "FailWorkflowExecution", "CancelWorkflowExecution"}
)


@dataclass(frozen=True)
class Job:
    """The ids every event of a job carries."""

    job_id: str
    workflow_id: str
    run_id: str

    @property
    def workflow(self) -> dict[str, str]:
        return messages.workflow_ref(self.workflow_id, self.run_id)


def closes(decisions: Sequence[Mapping[str, Any]]) -> bool:
    return any(d["decisionType"] in CLOSE_DECISIONS for d in decisions)


def for_decisions(
    job: Job,
    decisions: Sequence[Mapping[str, Any]],
    new_events: Sequence[Mapping[str, Any]],
    retry_target: Callable[[Mapping[str, Any]], tuple[str, ActivityType] | None],
) -> list[dict[str, Any]]:
    """Events for the decisions of one decision task.

    ``retry_target`` maps a retry timer's control to the (activityId, type) it will schedule.
    A close decision that repeats one SWF refused (``<Decision>Failed`` among ``new_events``,
    e.g. UNHANDLED_DECISION) was already announced by the previous task, so it is not sent twice.
    """
    refused = {str(e["eventType"]).removesuffix("Failed") for e in new_events}
    out: list[dict[str, Any]] = []
    for decision in decisions:
        kind = decision["decisionType"]
        if kind in CLOSE_DECISIONS and kind in refused:
            continue
        built = _for_decision(job, decision, retry_target)
        if built is not None:
            out.append(built)
    return out


def _attributes(decision: Mapping[str, Any]) -> Mapping[str, Any]:
    kind = str(decision["decisionType"])
    key = kind[0].lower() + kind[1:] + "DecisionAttributes"
    attributes: Mapping[str, Any] = decision.get(key) or {}
    return attributes


def _for_decision(
    job: Job,
    decision: Mapping[str, Any],
    retry_target: Callable[[Mapping[str, Any]], tuple[str, ActivityType] | None],
) -> dict[str, Any] | None:
    kind = decision["decisionType"]
    attrs = _attributes(decision)
    if kind == "ScheduleActivityTask":
        activity_type = (attrs["activityType"]["name"], attrs["activityType"]["version"])
        return messages.activity_scheduled(
            job.job_id,
            job.workflow,
            attrs["activityId"],
            activity_type,
            messages.decode_json(attrs.get("input")),
        )
    if kind == "StartTimer":
        return _retrying(job, attrs, retry_target)
    if kind == "CompleteWorkflowExecution":
        result = messages.decode_json(attrs.get("result"))
        return messages.event(messages.WORKFLOW_COMPLETED, job.job_id, job.workflow, result=result)
    if kind == "FailWorkflowExecution":
        return messages.event(
            messages.WORKFLOW_FAILED,
            job.job_id,
            job.workflow,
            reason=attrs.get("reason", ""),
            details=attrs.get("details", ""),
        )
    if kind == "CancelWorkflowExecution":
        return messages.event(
            messages.WORKFLOW_CANCELED, job.job_id, job.workflow, details=attrs.get("details", "")
        )
    return None


def _control(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _retrying(
    job: Job,
    attrs: Mapping[str, Any],
    retry_target: Callable[[Mapping[str, Any]], tuple[str, ActivityType] | None],
) -> dict[str, Any] | None:
    control = _control(attrs.get("control"))
    if control.get("kind") != RETRY_TIMER:
        return None
    target = retry_target(control)
    activity = messages.activity_ref(*target) if target else None
    return messages.event(
        messages.ACTIVITY_RETRYING,
        job.job_id,
        job.workflow,
        activity,
        step=control.get("step"),
        item=control.get("item"),
        attempt=control.get("attempt"),
        delay=int(str(attrs.get("startToFireTimeout", "0"))),
    )


def for_timeouts(
    job: Job,
    new_events: Sequence[Mapping[str, Any]],
    scheduled: Mapping[int, tuple[str, ActivityType]],
) -> list[dict[str, Any]]:
    """One ACTIVITY_TIMED_OUT per ActivityTaskTimedOut event new to this decision."""
    out = []
    for event in new_events:
        if event["eventType"] != "ActivityTaskTimedOut":
            continue
        attrs = event["activityTaskTimedOutEventAttributes"]
        activity_id, activity_type = scheduled.get(int(attrs["scheduledEventId"]), ("", ("", "")))
        timeout_type = attrs.get("timeoutType", "")
        details = attrs.get("details", "")
        activity = messages.activity_ref(
            activity_id,
            activity_type,
            result={"reason": f"TIMEOUT_{timeout_type}", "details": details},
        )
        out.append(
            messages.event(
                messages.ACTIVITY_TIMED_OUT,
                job.job_id,
                job.workflow,
                activity,
                timeoutType=timeout_type,
            )
        )
    return out
