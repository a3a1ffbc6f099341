"""The SWF gateway: typed calls, pagination, long polls, and "ensure exists".

Only this module (and ``cpe.sqs``) talks to AWS. Empty long polls come back as ``None``;
botocore errors come back as the project's exception tree (see ``cpe.aws.translate``).
Registrations are remembered, so that when the endpoint answers ``UnknownResourceFault``
to a poll or a start (an emulator restarted without its state, a domain deleted by hand)
the gateway registers everything again once and retries, instead of failing forever.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from cpe import aws, log
from cpe.errors import AlreadyExists, UnknownResource

if TYPE_CHECKING:
    from mypy_boto3_swf import SWFClient
    from mypy_boto3_swf.type_defs import DecisionTypeDef

T = TypeVar("T")
_log = log.get("cpe.swf")

PAGE_SIZE = 1000  # SWF's maximum history page
MAX_REASON = 256
MAX_DETAILS = 32768


@dataclass(frozen=True)
class WorkflowRef:
    workflow_id: str
    run_id: str


@dataclass(frozen=True)
class DecisionTask:
    token: str
    workflow: WorkflowRef
    workflow_type: tuple[str, str]
    events: list[dict[str, Any]]  # every page of this poll, oldest first
    started_event_id: int
    previous_started_event_id: int


@dataclass(frozen=True)
class ActivityTask:
    token: str
    activity_id: str
    activity_type: tuple[str, str]
    workflow: WorkflowRef
    input: str | None
    started_event_id: int


@dataclass(frozen=True)
class ExecutionInfo:
    workflow: WorkflowRef
    workflow_type: tuple[str, str]
    start_time: datetime
    close_time: datetime | None
    status: str  # OPEN, or SWF's close status (COMPLETED, FAILED, CANCELED, TERMINATED, ...)
    tags: tuple[str, ...]


def clip(text: str, limit: int) -> str:
    """SWF rejects over-long reasons and details; cut them visibly instead of failing the call."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SwfGateway:
    def __init__(self, client: SWFClient, domain: str) -> None:
        self._client = client
        self.domain = domain
        self._registrations: dict[tuple[str, ...], Callable[[], None]] = {}
        self._lock = threading.Lock()

    # --- registration ---------------------------------------------------------------

    def ensure_domain(self, retention_days: int = 1) -> None:
        def register() -> None:
            self._register(
                "RegisterDomain",
                self._client.register_domain,
                name=self.domain,
                workflowExecutionRetentionPeriodInDays=str(retention_days),
            )

        self._remember(("domain",), register)

    def ensure_workflow_type(
        self,
        name: str,
        version: str,
        *,
        task_list: str,
        execution_timeout: str,
        task_timeout: str,
        child_policy: str = "TERMINATE",
    ) -> None:
        def register() -> None:
            self._register(
                "RegisterWorkflowType",
                self._client.register_workflow_type,
                domain=self.domain,
                name=name,
                version=version,
                defaultTaskList={"name": task_list},
                defaultExecutionStartToCloseTimeout=execution_timeout,
                defaultTaskStartToCloseTimeout=task_timeout,
                defaultChildPolicy=child_policy,
            )

        self._remember(("workflow", name, version), register)

    def ensure_activity_type(
        self,
        name: str,
        version: str,
        *,
        task_list: str,
        heartbeat_timeout: str,
        schedule_to_close_timeout: str,
        schedule_to_start_timeout: str,
        start_to_close_timeout: str,
    ) -> None:
        def register() -> None:
            self._register(
                "RegisterActivityType",
                self._client.register_activity_type,
                domain=self.domain,
                name=name,
                version=version,
                defaultTaskList={"name": task_list},
                defaultTaskHeartbeatTimeout=heartbeat_timeout,
                defaultTaskScheduleToCloseTimeout=schedule_to_close_timeout,
                defaultTaskScheduleToStartTimeout=schedule_to_start_timeout,
                defaultTaskStartToCloseTimeout=start_to_close_timeout,
            )

        self._remember(("activity", name, version), register)

    def _remember(self, key: tuple[str, ...], register: Callable[[], None]) -> None:
        register()
        with self._lock:
            self._registrations[key] = register

    def _register(self, operation: str, function: Callable[..., Any], **kwargs: Any) -> None:
        try:
            aws.call(operation, function, **kwargs)
            _log.info(
                "registered",
                operation=operation,
                name=kwargs.get("name"),
                version=kwargs.get("version"),
            )
        except AlreadyExists:
            pass  # registration is idempotent for us: an existing type keeps its defaults

    def reregister(self) -> None:
        """Register again everything registered so far (the endpoint may have lost it)."""
        with self._lock:
            registrations = list(self._registrations.values())
        _log.warning(
            "re-registering after UnknownResourceFault",
            domain=self.domain,
            count=len(registrations),
        )
        for register in registrations:  # the domain was remembered first, so it comes first
            register()

    def _recovering(self, operation: str, function: Callable[..., T], **kwargs: Any) -> T:
        try:
            return aws.call(operation, function, **kwargs)
        except UnknownResource:
            if not self._registrations:
                raise
            self.reregister()
            return aws.call(operation, function, **kwargs)

    # --- workflows ------------------------------------------------------------------

    def start_workflow(
        self,
        workflow_id: str,
        workflow_type: tuple[str, str],
        *,
        task_list: str,
        input: str,
        tags: Sequence[str] = (),
        execution_timeout: str | None = None,
    ) -> str:
        """Start an execution; returns its runId. Raises AlreadyExists if one is open."""
        kwargs: dict[str, Any] = {
            "domain": self.domain,
            "workflowId": workflow_id,
            "workflowType": {"name": workflow_type[0], "version": workflow_type[1]},
            "taskList": {"name": task_list},
            "input": input,
            "tagList": list(tags),
        }
        if execution_timeout is not None:
            kwargs["executionStartToCloseTimeout"] = execution_timeout
        response = self._recovering(
            "StartWorkflowExecution", self._client.start_workflow_execution, **kwargs
        )
        return response["runId"]

    def request_cancel_workflow(self, workflow_id: str, run_id: str | None = None) -> None:
        kwargs: dict[str, Any] = {"domain": self.domain, "workflowId": workflow_id}
        if run_id:
            kwargs["runId"] = run_id
        aws.call(
            "RequestCancelWorkflowExecution",
            self._client.request_cancel_workflow_execution,
            **kwargs,
        )

    def signal_workflow(
        self, workflow_id: str, run_id: str | None, signal_name: str, input: str
    ) -> None:
        """Record a WorkflowExecutionSignaled event (SWF then schedules a decision task).

        Raises UnknownResource when the execution is not open.
        """
        kwargs: dict[str, Any] = {
            "domain": self.domain,
            "workflowId": workflow_id,
            "signalName": signal_name,
            "input": input,
        }
        if run_id:
            kwargs["runId"] = run_id
        aws.call("SignalWorkflowExecution", self._client.signal_workflow_execution, **kwargs)

    def terminate_workflow(self, ref: WorkflowRef, reason: str, details: str = "") -> None:
        aws.call(
            "TerminateWorkflowExecution",
            self._client.terminate_workflow_execution,
            domain=self.domain,
            workflowId=ref.workflow_id,
            runId=ref.run_id,
            reason=clip(reason, MAX_REASON),
            details=clip(details, MAX_DETAILS),
        )

    def history(self, ref: WorkflowRef) -> Iterator[dict[str, Any]]:
        """Every event of an execution, oldest first, page by page."""
        kwargs: dict[str, Any] = {
            "domain": self.domain,
            "execution": {"workflowId": ref.workflow_id, "runId": ref.run_id},
            "maximumPageSize": PAGE_SIZE,
        }
        while True:
            page = aws.call(
                "GetWorkflowExecutionHistory", self._client.get_workflow_execution_history, **kwargs
            )
            yield from page["events"]  # type: ignore[misc]
            token = page.get("nextPageToken")
            if not token:
                return
            kwargs["nextPageToken"] = token

    def started_input(self, ref: WorkflowRef) -> str | None:
        """The input an execution was started with (its first history event: one small call)."""
        page = aws.call(
            "GetWorkflowExecutionHistory",
            self._client.get_workflow_execution_history,
            domain=self.domain,
            execution={"workflowId": ref.workflow_id, "runId": ref.run_id},
            maximumPageSize=1,
        )
        for event in page["events"]:
            return event.get("workflowExecutionStartedEventAttributes", {}).get("input")
        return None

    def describe_workflow(self, ref: WorkflowRef) -> ExecutionInfo:
        response = aws.call(
            "DescribeWorkflowExecution",
            self._client.describe_workflow_execution,
            domain=self.domain,
            execution={"workflowId": ref.workflow_id, "runId": ref.run_id},
        )
        return _execution_info(dict(response["executionInfo"]))

    def list_executions(
        self,
        *,
        closed: bool,
        since: datetime,
        tag: str | None = None,
        workflow_id: str | None = None,
    ) -> list[ExecutionInfo]:
        """Open (or closed) executions started since ``since``, newest first, every page."""
        kwargs: dict[str, Any] = {"domain": self.domain, "maximumPageSize": PAGE_SIZE}
        kwargs["closeTimeFilter" if closed else "startTimeFilter"] = {"oldestDate": since}
        if tag is not None:
            kwargs["tagFilter"] = {"tag": tag}
        elif workflow_id is not None:
            kwargs["executionFilter"] = {"workflowId": workflow_id}
        operation, function = (
            ("ListClosedWorkflowExecutions", self._client.list_closed_workflow_executions)
            if closed
            else ("ListOpenWorkflowExecutions", self._client.list_open_workflow_executions)
        )
        found: list[ExecutionInfo] = []
        while True:
            page = aws.call(operation, function, **kwargs)
            found += [_execution_info(dict(info)) for info in page["executionInfos"]]
            token = page.get("nextPageToken")
            if not token:
                return found
            kwargs["nextPageToken"] = token

    # --- decision tasks -------------------------------------------------------------

    def poll_decision(
        self, task_list: str, identity: str, *, incremental: bool = True
    ) -> DecisionTask | None:
        """Long-poll for a decision task and gather all of its history pages.

        With ``incremental``, SWF sends only the events after the previous decision (plus
        ``previousStartedEventId``), which the decider folds into its cached state.
        """
        kwargs: dict[str, Any] = {
            "domain": self.domain,
            "taskList": {"name": task_list},
            "identity": identity,
            "maximumPageSize": PAGE_SIZE,
            "startAtPreviousStartedEvent": incremental,
        }
        first = self._recovering(
            "PollForDecisionTask", self._client.poll_for_decision_task, **kwargs
        )
        if not first.get("taskToken"):
            return None
        events: list[dict[str, Any]] = [dict(e) for e in first.get("events", [])]
        token = first.get("nextPageToken")
        while token:
            page = aws.call(
                "PollForDecisionTask",
                self._client.poll_for_decision_task,
                **kwargs,
                nextPageToken=token,
            )
            events += [dict(e) for e in page.get("events", [])]
            token = page.get("nextPageToken")
        execution = first["workflowExecution"]
        return DecisionTask(
            token=first["taskToken"],
            workflow=WorkflowRef(execution["workflowId"], execution["runId"]),
            workflow_type=(first["workflowType"]["name"], first["workflowType"]["version"]),
            events=events,
            started_event_id=first["startedEventId"],
            previous_started_event_id=first.get("previousStartedEventId", 0),
        )

    def respond_decision(
        self, token: str, decisions: Sequence[dict[str, Any]], context: str = ""
    ) -> None:
        typed: list[DecisionTypeDef] = [json.loads(json.dumps(d)) for d in decisions]
        aws.call(
            "RespondDecisionTaskCompleted",
            self._client.respond_decision_task_completed,
            taskToken=token,
            decisions=typed,
            executionContext=context,
        )

    # --- activity tasks -------------------------------------------------------------

    def poll_activity(self, task_list: str, identity: str) -> ActivityTask | None:
        response = self._recovering(
            "PollForActivityTask",
            self._client.poll_for_activity_task,
            domain=self.domain,
            taskList={"name": task_list},
            identity=identity,
        )
        if not response.get("taskToken"):
            return None
        execution = response["workflowExecution"]
        return ActivityTask(
            token=response["taskToken"],
            activity_id=response["activityId"],
            activity_type=(response["activityType"]["name"], response["activityType"]["version"]),
            workflow=WorkflowRef(execution["workflowId"], execution["runId"]),
            input=response.get("input"),
            started_event_id=response["startedEventId"],
        )

    def heartbeat(self, token: str, details: str = "") -> bool:
        """Record a heartbeat; returns True when a cancel of this task was requested."""
        response = aws.call(
            "RecordActivityTaskHeartbeat",
            self._client.record_activity_task_heartbeat,
            taskToken=token,
            details=clip(details, 2048),
        )
        return bool(response.get("cancelRequested"))

    def complete_activity(self, token: str, result: str) -> None:
        aws.call(
            "RespondActivityTaskCompleted",
            self._client.respond_activity_task_completed,
            taskToken=token,
            result=result,
        )

    def fail_activity(self, token: str, reason: str, details: str = "") -> None:
        aws.call(
            "RespondActivityTaskFailed",
            self._client.respond_activity_task_failed,
            taskToken=token,
            reason=clip(reason, MAX_REASON),
            details=clip(details, MAX_DETAILS),
        )

    def cancel_activity(self, token: str, details: str = "") -> None:
        aws.call(
            "RespondActivityTaskCanceled",
            self._client.respond_activity_task_canceled,
            taskToken=token,
            details=clip(details, MAX_DETAILS),
        )


def _execution_info(info: dict[str, Any]) -> ExecutionInfo:
    execution = info["execution"]
    status = info.get("executionStatus", "OPEN")
    return ExecutionInfo(
        workflow=WorkflowRef(execution["workflowId"], execution["runId"]),
        workflow_type=(info["workflowType"]["name"], info["workflowType"]["version"]),
        start_time=info["startTimestamp"],
        close_time=info.get("closeTimestamp"),
        status="OPEN" if status == "OPEN" else str(info.get("closeStatus", "CLOSED")),
        tags=tuple(info.get("tagList", [])),
    )
