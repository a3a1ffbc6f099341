"""Applying a RespondDecisionTaskCompleted's decisions to a run, as SWF does.

Shape errors (missing required attributes, unknown decision type, a close decision not last) are
found by moto's ``validate_decisions`` before anything happens; ``check_attributes`` adds the value
checks moto lacks (timeouts). Both reject the whole call with a 400 and apply nothing. Semantic
problems (unknown activity type, duplicate ids, unknown timer) become ``*Failed`` events followed
by a new decision task, as on SWF.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moto.swf.exceptions import SWFValidationException
from moto.swf.models.generic_type import GenericType

from emulator.swf_model import ActivityTask, EmuRun, Timer, parse_timeout

if TYPE_CHECKING:
    from emulator.swf_backend import EmuSWFBackend

ACTIVITY_TIMEOUTS = {
    "scheduleToStartTimeout": "default_task_schedule_to_start_timeout",
    "scheduleToCloseTimeout": "default_task_schedule_to_close_timeout",
    "startToCloseTimeout": "default_task_start_to_close_timeout",
    "heartbeatTimeout": "default_task_heartbeat_timeout",
}
CLOSE_DECISIONS = {
    "CompleteWorkflowExecution",
    "FailWorkflowExecution",
    "CancelWorkflowExecution",
}


def _attrs(decision: dict[str, Any]) -> dict[str, Any]:
    kind: str = decision["decisionType"]
    value: dict[str, Any] = decision.get(kind[0].lower() + kind[1:] + "DecisionAttributes") or {}
    return value


def check_attributes(decisions: list[dict[str, Any]]) -> None:
    """Reject values SWF rejects at validation time, before any decision is applied."""
    for number, decision in enumerate(decisions, start=1):
        kind = decision["decisionType"]
        attrs = _attrs(decision)
        where = f"decisions.{number}.member"
        if kind == "ScheduleActivityTask":
            activity_type = attrs.get("activityType")
            if not isinstance(activity_type, dict) or not all(
                isinstance(activity_type.get(key), str) for key in ("name", "version")
            ):
                raise SWFValidationException(f"{where}.activityType needs a name and a version")
            for name in ACTIVITY_TIMEOUTS:
                parse_timeout(attrs.get(name), f"{where}.{name}")
        elif kind == "StartTimer":
            parse_timeout(attrs.get("startToFireTimeout"), f"{where}.startToFireTimeout", False)
        elif kind not in HANDLERS:
            raise SWFValidationException(f"Decision type {kind} is not supported by the emulator")


def apply(
    backend: EmuSWFBackend, run: EmuRun, completed_id: int, decisions: list[dict[str, Any]]
) -> None:
    for decision in decisions:
        if not run.open:
            break
        HANDLERS[decision["decisionType"]](backend, run, completed_id, _attrs(decision))


def _schedule_failed(
    backend: EmuSWFBackend, run: EmuRun, attrs: dict[str, Any], done: int, cause: str
) -> None:
    run.add_event(
        "ScheduleActivityTaskFailed",
        activityId=attrs["activityId"],
        activityType=attrs["activityType"],
        cause=cause,
        decisionTaskCompletedEventId=done,
    )
    backend.schedule_decision(run)


def schedule_activity(
    backend: EmuSWFBackend, run: EmuRun, done: int, attrs: dict[str, Any]
) -> None:
    ref = attrs["activityType"]
    activity_type: GenericType | None = run.domain.get_type(
        "activity", ref["name"], ref["version"], ignore_empty=True
    )
    if activity_type is None:
        return _schedule_failed(backend, run, attrs, done, "ACTIVITY_TYPE_DOES_NOT_EXIST")
    if activity_type.status == "DEPRECATED":
        return _schedule_failed(backend, run, attrs, done, "ACTIVITY_TYPE_DEPRECATED")
    if attrs["activityId"] in run.activities:
        return _schedule_failed(backend, run, attrs, done, "ACTIVITY_ID_ALREADY_IN_USE")
    task_list = (attrs.get("taskList") or {}).get("name") or activity_type.task_list
    if not task_list:
        return _schedule_failed(backend, run, attrs, done, "DEFAULT_TASK_LIST_UNDEFINED")
    timeouts: dict[str, str] = {}
    for name, default in ACTIVITY_TIMEOUTS.items():
        value = attrs.get(name) or getattr(activity_type, default, None)
        if not value:
            cause = default.replace("default_task_", "default_").upper() + "_UNDEFINED"
            return _schedule_failed(backend, run, attrs, done, cause)
        timeouts[name] = str(value)
    event_id = run.add_event(
        "ActivityTaskScheduled",
        activityType=attrs["activityType"],
        activityId=attrs["activityId"],
        input=attrs.get("input"),
        control=attrs.get("control"),
        taskList={"name": task_list},
        decisionTaskCompletedEventId=done,
        taskPriority=attrs.get("taskPriority"),
        **timeouts,
    )
    task = ActivityTask(
        run=run,
        activity_id=attrs["activityId"],
        activity_type=activity_type,
        task_list=task_list,
        scheduled_event_id=event_id,
        input=attrs.get("input"),
        schedule_to_start=parse_timeout(
            timeouts["scheduleToStartTimeout"], "scheduleToStartTimeout"
        ),
        schedule_to_close=parse_timeout(
            timeouts["scheduleToCloseTimeout"], "scheduleToCloseTimeout"
        ),
        start_to_close=parse_timeout(timeouts["startToCloseTimeout"], "startToCloseTimeout"),
        heartbeat=parse_timeout(timeouts["heartbeatTimeout"], "heartbeatTimeout"),
    )
    backend.enqueue_activity(run, task)
    return None


def request_cancel_activity(
    backend: EmuSWFBackend, run: EmuRun, done: int, attrs: dict[str, Any]
) -> None:
    activity_id = attrs["activityId"]
    task = run.activities.get(activity_id)
    if task is None:
        run.add_event(
            "RequestCancelActivityTaskFailed",
            activityId=activity_id,
            cause="ACTIVITY_ID_UNKNOWN",
            decisionTaskCompletedEventId=done,
        )
        backend.schedule_decision(run)
        return
    requested = run.add_event(
        "ActivityTaskCancelRequested", activityId=activity_id, decisionTaskCompletedEventId=done
    )
    task.cancel_requested_event_id = requested
    if task.state == "SCHEDULED":
        # Not yet handed to a worker: SWF cancels it at once.
        backend.close_activity(task, "ActivityTaskCanceled", latestCancelRequestedEventId=requested)


def start_timer(backend: EmuSWFBackend, run: EmuRun, done: int, attrs: dict[str, Any]) -> None:
    timer_id = attrs["timerId"]
    if timer_id in run.timers:
        run.add_event(
            "StartTimerFailed",
            timerId=timer_id,
            cause="TIMER_ID_ALREADY_IN_USE",
            decisionTaskCompletedEventId=done,
        )
        backend.schedule_decision(run)
        return
    seconds = parse_timeout(attrs["startToFireTimeout"], "startToFireTimeout", False) or 0.0
    started = run.add_event(
        "TimerStarted",
        timerId=timer_id,
        control=attrs.get("control"),
        startToFireTimeout=str(attrs["startToFireTimeout"]),
        decisionTaskCompletedEventId=done,
    )
    backend.start_timer(run, Timer(timer_id, started, time.time() + seconds))


def cancel_timer(backend: EmuSWFBackend, run: EmuRun, done: int, attrs: dict[str, Any]) -> None:
    timer_id = attrs["timerId"]
    timer = run.timers.pop(timer_id, None)
    if timer is None:
        run.add_event(
            "CancelTimerFailed",
            timerId=timer_id,
            cause="TIMER_ID_UNKNOWN",
            decisionTaskCompletedEventId=done,
        )
        backend.schedule_decision(run)
        return
    # SWF's event type is TimerCanceled (moto writes "TimerCancelled").
    run.add_event(
        "TimerCanceled",
        timerId=timer_id,
        startedEventId=timer.started_event_id,
        decisionTaskCompletedEventId=done,
    )


def record_marker(backend: EmuSWFBackend, run: EmuRun, done: int, attrs: dict[str, Any]) -> None:
    run.add_event(
        "MarkerRecorded",
        markerName=attrs["markerName"],
        details=attrs.get("details"),
        decisionTaskCompletedEventId=done,
    )


def _close(
    kind: str, event: str, status: str, fields: tuple[str, ...]
) -> Callable[[EmuSWFBackend, EmuRun, int, dict[str, Any]], None]:
    """A close decision; refused with UNHANDLED_DECISION if events arrived meanwhile (SWF)."""

    def handler(backend: EmuSWFBackend, run: EmuRun, done: int, attrs: dict[str, Any]) -> None:
        if run.decision_needed:
            run.add_event(
                f"{kind}Failed", cause="UNHANDLED_DECISION", decisionTaskCompletedEventId=done
            )
            return
        values = {name: attrs.get(name) for name in fields}
        backend.close_run(run, status, event, decisionTaskCompletedEventId=done, **values)

    return handler


HANDLERS: dict[str, Callable[[EmuSWFBackend, EmuRun, int, dict[str, Any]], None]] = {
    "ScheduleActivityTask": schedule_activity,
    "RequestCancelActivityTask": request_cancel_activity,
    "StartTimer": start_timer,
    "CancelTimer": cancel_timer,
    "RecordMarker": record_marker,
    "CompleteWorkflowExecution": _close(
        "CompleteWorkflowExecution", "WorkflowExecutionCompleted", "COMPLETED", ("result",)
    ),
    "FailWorkflowExecution": _close(
        "FailWorkflowExecution", "WorkflowExecutionFailed", "FAILED", ("reason", "details")
    ),
    "CancelWorkflowExecution": _close(
        "CancelWorkflowExecution", "WorkflowExecutionCanceled", "CANCELED", ("details",)
    ),
}
