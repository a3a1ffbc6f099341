"""Build SWF-shaped workflow histories for tests, the way boto3's GetWorkflowExecutionHistory
returns them: ``eventId`` (auto-incremented), ``eventType``, ``eventTimestamp`` (one second
apart) and ``<lowerCamelType>EventAttributes``.

    h = History()
    h.started({"client": "demo"})
    h.decision_completed()
    sid = h.scheduled("Step1")
    h.activity_started(sid)
    h.activity_completed(sid, {"ok": True})
    fold(h.events)

``apply(decisions)`` records the events SWF would for a decision list (a DecisionTask
scheduled/started/completed, then ActivityTaskScheduled, TimerStarted, MarkerRecorded...),
so tests can drive ``decide`` in a loop. ``scheduled_ids`` maps activityId -> scheduledEventId
of the latest attempt with that id.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class History:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.scheduled_ids: dict[str, int] = {}
        self.started_timers: dict[str, int] = {}

    # -- plumbing

    def add(self, event_type: str, **attributes: Any) -> int:
        event_id = len(self.events) + 1
        key = event_type[:1].lower() + event_type[1:] + "EventAttributes"
        self.events.append(
            {
                "eventId": event_id,
                "eventType": event_type,
                "eventTimestamp": EPOCH + timedelta(seconds=event_id),
                key: attributes,
            }
        )
        return event_id

    @property
    def last_id(self) -> int:
        return len(self.events)

    def since(self, event_id: int) -> list[dict[str, Any]]:
        """Events after ``event_id`` (what an incremental decision task would bring)."""
        return self.events[event_id:]

    # -- workflow

    def started(
        self, job_input: Any = None, name: str = "Plan", version: str = "1", raw: str | None = None
    ) -> int:
        text = raw if raw is not None else json.dumps(job_input)
        return self.add(
            "WorkflowExecutionStarted",
            input=text,
            workflowType={"name": name, "version": version},
            taskList={"name": "cpe-decisions"},
            childPolicy="TERMINATE",
        )

    def decision_completed(self) -> int:
        scheduled = self.add("DecisionTaskScheduled", taskList={"name": "cpe-decisions"})
        started = self.add("DecisionTaskStarted", scheduledEventId=scheduled)
        return self.add("DecisionTaskCompleted", scheduledEventId=scheduled, startedEventId=started)

    def cancel_requested(self) -> int:
        return self.add("WorkflowExecutionCancelRequested")

    def signaled(self, name: str, input: str | None = None) -> int:
        return self.add("WorkflowExecutionSignaled", signalName=name, input=input)

    def cancel_activity_signal(self, activity_id: str) -> int:
        """What the input poller sends for CANCEL_ACTIVITY."""
        return self.signaled("cpe.cancel_activity", json.dumps({"activityId": activity_id}))

    def completed(self, result: str = "{}") -> int:
        return self.add("WorkflowExecutionCompleted", result=result)

    # -- activities

    def scheduled(
        self,
        activity_id: str,
        name: str = "A",
        version: str = "1",
        input: str = "{}",
        control: str | None = None,
    ) -> int:
        attributes: dict[str, Any] = {
            "activityId": activity_id,
            "activityType": {"name": name, "version": version},
            "input": input,
            "taskList": {"name": f"{name}-{version}"},
            "decisionTaskCompletedEventId": self.last_id,
        }
        if control is not None:
            attributes["control"] = control
        event_id = self.add("ActivityTaskScheduled", **attributes)
        self.scheduled_ids[activity_id] = event_id
        return event_id

    def schedule_failed(self, activity_id: str, cause: str = "ACTIVITY_TYPE_DOES_NOT_EXIST") -> int:
        return self.add(
            "ScheduleActivityTaskFailed",
            activityId=activity_id,
            activityType={"name": "A", "version": "1"},
            cause=cause,
            decisionTaskCompletedEventId=self.last_id,
        )

    def _sid(self, ref: int | str) -> int:
        return self.scheduled_ids[ref] if isinstance(ref, str) else ref

    def activity_started(self, ref: int | str) -> int:
        return self.add("ActivityTaskStarted", scheduledEventId=self._sid(ref), identity="t")

    def activity_completed(self, ref: int | str, result: Any = None, raw: str | None = None) -> int:
        text = raw if raw is not None else json.dumps(result)
        return self.add("ActivityTaskCompleted", scheduledEventId=self._sid(ref), result=text)

    def activity_failed(
        self, ref: int | str, reason: str = "Boom", details: str = "it broke"
    ) -> int:
        return self.add(
            "ActivityTaskFailed", scheduledEventId=self._sid(ref), reason=reason, details=details
        )

    def activity_timed_out(self, ref: int | str, timeout_type: str = "START_TO_CLOSE") -> int:
        return self.add(
            "ActivityTaskTimedOut", scheduledEventId=self._sid(ref), timeoutType=timeout_type
        )

    def activity_cancel_requested(self, activity_id: str) -> int:
        return self.add("ActivityTaskCancelRequested", activityId=activity_id)

    def activity_canceled(self, ref: int | str) -> int:
        return self.add("ActivityTaskCanceled", scheduledEventId=self._sid(ref))

    # -- timers and markers

    def timer_started(self, timer_id: str, seconds: str = "0", control: str | None = None) -> int:
        attributes: dict[str, Any] = {"timerId": timer_id, "startToFireTimeout": seconds}
        if control is not None:
            attributes["control"] = control
        event_id = self.add("TimerStarted", **attributes)
        self.started_timers[timer_id] = event_id
        return event_id

    def timer_fired(self, timer_id: str) -> int:
        started = self.started_timers.pop(timer_id)
        return self.add("TimerFired", timerId=timer_id, startedEventId=started)

    def timer_canceled(self, timer_id: str) -> int:
        started = self.started_timers.pop(timer_id)
        return self.add("TimerCanceled", timerId=timer_id, startedEventId=started)

    def marker(self, name: str, details: str) -> int:
        return self.add("MarkerRecorded", markerName=name, details=details)

    # -- replaying decisions

    def apply(self, decisions: list[dict[str, Any]]) -> None:
        """Record the events SWF writes for one decision task that returned ``decisions``."""
        self.decision_completed()
        for decision in decisions:
            kind = decision["decisionType"]
            attributes = decision[kind[:1].lower() + kind[1:] + "DecisionAttributes"]
            self._apply_one(kind, attributes)

    def _apply_one(self, kind: str, attributes: dict[str, Any]) -> None:
        if kind == "ScheduleActivityTask":
            activity = attributes["activityType"]
            self.scheduled(
                attributes["activityId"],
                activity["name"],
                activity["version"],
                attributes.get("input", ""),
                attributes.get("control"),
            )
        elif kind == "StartTimer":
            self.timer_started(
                attributes["timerId"], attributes["startToFireTimeout"], attributes.get("control")
            )
        elif kind == "CancelTimer":
            self.timer_canceled(attributes["timerId"])
        elif kind == "RecordMarker":
            self.marker(attributes["markerName"], attributes.get("details", ""))
        elif kind == "RequestCancelActivityTask":
            self.activity_cancel_requested(attributes["activityId"])
        elif kind == "CompleteWorkflowExecution":
            self.completed(attributes.get("result", ""))
        elif kind == "FailWorkflowExecution":
            self.add("WorkflowExecutionFailed", **attributes)
        elif kind == "CancelWorkflowExecution":
            self.add("WorkflowExecutionCanceled", **attributes)
        else:
            raise ValueError(f"no history for decision {kind}")
