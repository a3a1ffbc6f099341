"""The emulator's SWF state objects: a run, its decision task and its activity tasks.

The run subclasses moto's ``WorkflowExecution`` so that moto keeps resolving start defaults
(``DefaultUndefinedFault``) and validating decision shapes; everything moto tracks globally
(task lists scanned per call, a threading.Timer per timer, one ``Timeout`` object per check) is
replaced by per-run fields that the backend indexes. History events are stored as the plain
dicts the API returns, which keeps memory small and pickling (persistence) cheap.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.swf.exceptions import SWFValidationException
from moto.swf.models.domain import Domain
from moto.swf.models.generic_type import GenericType
from moto.swf.models.workflow_execution import WorkflowExecution

from emulator.tracking import stop_tracking

# SWF caps every duration at one year; "NONE" means unlimited where SWF allows it.
MAX_TIMEOUT_SECONDS = 31_536_000


def parse_timeout(value: Any, name: str, allow_none: bool = True) -> float | None:
    """Seconds as a float, None for "NONE"; anything else is SWF's ValidationException (400)."""
    if value is None:
        return None
    if allow_none and value == "NONE":
        return None
    text = str(value)
    if not text.isdigit() or int(text) > MAX_TIMEOUT_SECONDS:
        raise SWFValidationException(
            f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy "
            f"constraint: Member must be a number of seconds between 0 and "
            f"{MAX_TIMEOUT_SECONDS}{' or NONE' if allow_none else ''}"
        )
    return float(text)


def new_token() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


@dataclass
class DecisionTask:
    """One decision task of a run; a run has at most one scheduled and one started."""

    scheduled_event_id: int
    token: str = field(default_factory=new_token)
    started_event_id: int = 0
    started_at: float = 0.0
    previous_started_event_id: int = 0


@dataclass
class ActivityTask:
    """A scheduled or started activity task with its four SWF timeouts (None = no limit)."""

    run: EmuRun
    activity_id: str
    activity_type: GenericType
    task_list: str
    scheduled_event_id: int
    input: str | None
    schedule_to_start: float | None
    schedule_to_close: float | None
    start_to_close: float | None
    heartbeat: float | None
    token: str = field(default_factory=new_token)
    scheduled_at: float = field(default_factory=time.time)
    started_at: float = 0.0
    started_event_id: int = 0
    last_heartbeat_at: float = 0.0
    heartbeat_details: str | None = None
    cancel_requested_event_id: int = 0
    state: str = "SCHEDULED"  # SCHEDULED -> STARTED -> CLOSED

    def next_deadline(self) -> tuple[float, str] | None:
        """The earliest (deadline, timeoutType) still ahead for this task, if any."""
        candidates: list[tuple[float, str]] = []
        if self.schedule_to_close is not None:
            candidates.append((self.scheduled_at + self.schedule_to_close, "SCHEDULE_TO_CLOSE"))
        if self.state == "SCHEDULED" and self.schedule_to_start is not None:
            candidates.append((self.scheduled_at + self.schedule_to_start, "SCHEDULE_TO_START"))
        if self.state == "STARTED":
            if self.start_to_close is not None:
                candidates.append((self.started_at + self.start_to_close, "START_TO_CLOSE"))
            # SWF counts the heartbeat timeout from the start and from each heartbeat.
            if self.heartbeat is not None:
                candidates.append((self.last_heartbeat_at + self.heartbeat, "HEARTBEAT"))
        return min(candidates) if candidates else None

    def poll_response(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "taskToken": self.token,
            "activityId": self.activity_id,
            "startedEventId": self.started_event_id,
            "workflowExecution": self.run.to_short_dict(),
            "activityType": self.activity_type.to_short_dict(),
        }
        if self.input is not None:
            body["input"] = self.input
        return body


@dataclass
class Timer:
    timer_id: str
    started_event_id: int
    fire_at: float


class EmuRun(WorkflowExecution):
    """A workflow execution whose tasks, timers and history live on the run itself."""

    def __init__(self, domain: Domain, workflow_type: GenericType, workflow_id: str, **kw: Any):
        super().__init__(domain, workflow_type, workflow_id, **kw)  # type: ignore[arg-type]  # moto types it WorkflowType
        # moto's per-run Lock and threading.Timer map are replaced by the backend's single
        # lock and deadline heap; dropping them also makes the run picklable.
        del self.threading_lock
        self._timers = {}
        self.execution_timeout = parse_timeout(
            self.execution_start_to_close_timeout, "executionStartToCloseTimeout", False
        )
        self.task_timeout = parse_timeout(
            self.task_start_to_close_timeout, "taskStartToCloseTimeout"
        )
        self.history: list[dict[str, Any]] = []
        self.scheduled_decision: DecisionTask | None = None
        self.started_decision: DecisionTask | None = None
        # Events that arrived while a decision task was started: SWF schedules the next
        # decision task only when the current one closes, and refuses close decisions.
        self.decision_needed = False
        self.last_started_event_id = 0
        self.activities: dict[str, ActivityTask] = {}
        self.timers: dict[str, Timer] = {}

    # -- history -----------------------------------------------------------------------
    def add_event(self, event_type: str, **attributes: Any) -> int:
        event_id = len(self.history) + 1
        attrs = {key: value for key, value in attributes.items() if value is not None}
        key = event_type[0].lower() + event_type[1:] + "EventAttributes"
        self.history.append(
            {
                "eventId": event_id,
                "eventType": event_type,
                "eventTimestamp": time.time(),
                key: attrs,
            }
        )
        return event_id

    @property
    def open_count(self) -> dict[str, int]:
        return {
            "openActivityTasks": len(self.activities),
            "openDecisionTasks": int(
                self.scheduled_decision is not None or self.started_decision is not None
            ),
            "openTimers": len(self.timers),
            "openChildWorkflowExecutions": 0,
            "openLambdaFunctions": 0,
        }

    # -- API views -----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        hsh: dict[str, Any] = {
            "execution": self.to_short_dict(),
            "workflowType": self.workflow_type.to_short_dict(),
            "startTimestamp": self.start_timestamp,
            "executionStatus": self.execution_status,
            "cancelRequested": self.cancel_requested,
        }
        if self.tag_list:
            hsh["tagList"] = self.tag_list
        if self.close_status:
            hsh["closeStatus"] = self.close_status
            hsh["closeTimestamp"] = self.close_timestamp
        return hsh

    def describe(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "taskList": {"name": self.task_list},
            "executionStartToCloseTimeout": str(self.execution_start_to_close_timeout),
            "taskStartToCloseTimeout": str(self.task_start_to_close_timeout),
            "childPolicy": self.child_policy,
        }
        hsh: dict[str, Any] = {
            "executionInfo": self.info(),
            "executionConfiguration": config,
            "openCounts": self.open_count,
        }
        if self.latest_execution_context:
            hsh["latestExecutionContext"] = self.latest_execution_context
        if self.latest_activity_task_timestamp:
            hsh["latestActivityTaskTimestamp"] = self.latest_activity_task_timestamp
        return hsh


# Runs are pruned after retention; moto's instance list must not keep them alive.
stop_tracking(EmuRun)
