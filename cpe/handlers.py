"""The seven commands: each turns a validated command into the one event that answers it.

Every handler is idempotent, because SQS delivers at least once: starting a job that already
has a run answers with that run; cancelling twice asks SWF twice; reads are reads.
Handlers raise :class:`CommandRejected` for anything the client must fix, and let transient
AWS errors (throttling, endpoint down) through so the daemon leaves the command on the queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from cpe import commands, messages
from cpe.commands import ClientQueues
from cpe.errors import AlreadyExists, CommandRejected, InvalidRequest, UnknownResource
from cpe.job_summary import activity_record, find_activity
from cpe.messages import Command
from cpe.plan import Plan
from cpe.state import CANCEL_ACTIVITY_SIGNAL, ExecutionState
from cpe.status import DEFAULT_LIST_WINDOW, MAX_JOBS_FOR_ACTIVITY_LIST, StatusService
from cpe.swf import ExecutionInfo, SwfGateway, WorkflowRef

Answer = dict[str, Any]
MAX_LISTED = 20  # open activityIds named in an UNKNOWN_ACTIVITY rejection


def _ref(info: ExecutionInfo) -> dict[str, str]:
    return messages.workflow_ref(info.workflow.workflow_id, info.workflow.run_id)


def _no_open_activity(job_id: str, wanted: str, state: ExecutionState) -> str:
    open_ids = sorted(
        attempt.activity_id
        for step in state.steps.values()
        for slot in (step, *step.items.values())
        for attempt in slot.attempt_log[-1:]
        if state.open_attempt(attempt.activity_id) is not None
    )
    listed = ", ".join(open_ids[:MAX_LISTED]) if open_ids else "none"
    if len(open_ids) > MAX_LISTED:
        listed += f", ... ({len(open_ids)} in all)"
    return f"job {job_id!r} has no open activity {wanted!r} (open: {listed})"


class CommandHandlers:
    def __init__(
        self,
        swf: SwfGateway,
        status: StatusService,
        plans: Mapping[tuple[str, str], Plan],
        *,
        domain: str,
        decider_task_list: str,
    ) -> None:
        self._swf = swf
        self._status = status
        self._plans = plans
        self._domain = domain
        self._task_list = decider_task_list
        self._by_type: dict[str, Callable[[Command, ClientQueues], Answer]] = {
            messages.START_JOB: self.start_job,
            messages.CANCEL_JOB: self.cancel_job,
            messages.CANCEL_ACTIVITY: self.cancel_activity,
            messages.GET_JOB_STATUS: self.job_status,
            messages.GET_ACTIVITY_STATUS: self.activity_status,
            messages.GET_JOB_LIST: self.job_list,
            messages.GET_ACTIVITY_LIST: self.activity_list,
        }

    def handle(self, command: Command, client: ClientQueues) -> Answer:
        commands.check_client(command, client)
        return self._by_type[command.type](command, client)

    # --- jobs -----------------------------------------------------------------------

    def start_job(self, command: Command, client: ClientQueues) -> Answer:
        request = commands.start_request(command, client, self._plans, self._domain)
        earlier = self._status.earlier_run(request.workflow_id)
        if earlier is None:
            started = self._start(request)
            if started is not None:
                return _scheduled(request, started, request.input)
            earlier = self._open_run(request)
        # A repeated START_JOB gets the first one's answer: the run's input, not its own.
        text = self._status.started_input(earlier)
        return _scheduled(request, earlier, request.input if text is None else json.loads(text))

    def _start(self, request: commands.StartRequest) -> ExecutionInfo | None:
        """The new run, or None if one is open already (another delivery started it)."""
        try:
            run_id = self._swf.start_workflow(
                request.workflow_id,
                request.workflow_type,
                task_list=self._task_list,
                input=request.input_text,
                tags=[messages.client_tag(request.client)],
                execution_timeout=request.execution_timeout,
            )
        except AlreadyExists:
            return None
        except InvalidRequest as error:
            raise CommandRejected(messages.SWF_REJECTED, str(error), request.job_id) from error
        info = ExecutionInfo(
            workflow=WorkflowRef(request.workflow_id, run_id),
            workflow_type=request.workflow_type,
            start_time=datetime.now(UTC),
            close_time=None,
            status="OPEN",
            tags=(),
        )
        self._status.remember_run(info, request.input_text)
        return info

    def _open_run(self, request: commands.StartRequest) -> ExecutionInfo:
        info = self._status.find_run(request.workflow_id, fresh=True)
        if info is None:  # an AWS error, so the command is left for redelivery and retried
            raise AlreadyExists(
                "StartWorkflowExecution",
                "WorkflowExecutionAlreadyStartedFault",
                f"{request.workflow_id} is running but was not found in the open executions",
            )
        return info

    def _run_of(self, command: Command, client: ClientQueues) -> ExecutionInfo:
        assert command.job_id is not None  # every per-job command's schema requires it
        info = self._status.find_run(messages.workflow_id_for(client.name, command.job_id))
        if info is None:
            raise CommandRejected(
                messages.UNKNOWN_JOB,
                f"client {client.name!r} has no job {command.job_id!r} (open, or closed within retention)",
                command.job_id,
            )
        return info

    def cancel_job(self, command: Command, client: ClientQueues) -> Answer:
        info = self._run_of(command, client)
        job_id = command.job_id
        assert job_id is not None
        try:
            self._swf.request_cancel_workflow(info.workflow.workflow_id, info.workflow.run_id)
        except UnknownResource as error:
            status = self._status.job_summary(info).summary.get("status")
            raise CommandRejected(
                messages.JOB_CLOSED, f"the job is already closed ({status})", job_id
            ) from error
        return messages.cancel_requested(job_id, _ref(info))

    def cancel_activity(self, command: Command, client: ClientQueues) -> Answer:
        """Signal the run; its decider asks SWF to cancel the attempt, the worker stops it.

        Checked against a fresh read of the history, so that an activity scheduled a moment
        ago is found; the fold ignores a signal for an attempt that closed meanwhile.
        """
        info = self._run_of(command, client)
        job_id, wanted = command.job_id, command.activity_id
        assert job_id is not None and wanted is not None  # the command's schema requires both
        state = self._status.job_summary(info, fresh=True).state
        if state.closed:
            raise CommandRejected(
                messages.JOB_CLOSED, f"the job is already closed ({state.close_status})", job_id
            )
        attempt = state.open_attempt(wanted)
        if attempt is None:
            raise CommandRejected(
                messages.UNKNOWN_ACTIVITY, _no_open_activity(job_id, wanted, state), job_id
            )
        signal = json.dumps({"activityId": attempt.activity_id})
        try:
            self._swf.signal_workflow(
                info.workflow.workflow_id, info.workflow.run_id, CANCEL_ACTIVITY_SIGNAL, signal
            )
        except UnknownResource as error:
            raise CommandRejected(
                messages.JOB_CLOSED, "the job closed meanwhile", job_id
            ) from error
        return messages.cancel_requested(job_id, _ref(info), activity_record(attempt))

    # --- status ---------------------------------------------------------------------

    def job_status(self, command: Command, client: ClientQueues) -> Answer:
        info = self._run_of(command, client)
        assert command.job_id is not None
        job = self._status.job_summary(info)
        return messages.job_status(command.job_id, _ref(info), {**job.summary, "asOf": job.as_of})

    def activity_status(self, command: Command, client: ClientQueues) -> Answer:
        info = self._run_of(command, client)
        job_id, activity_id = command.job_id, command.activity_id
        assert job_id is not None and activity_id is not None
        job = self._status.job_summary(info)
        activity = find_activity(job.summary, activity_id)
        if activity is None:
            raise CommandRejected(
                messages.UNKNOWN_ACTIVITY,
                f"job {job_id!r} has no activity or step {activity_id!r} scheduled yet",
                job_id,
            )
        return messages.activity_status(job_id, _ref(info), activity, job.as_of)

    def job_list(self, command: Command, client: ClientQueues) -> Answer:
        wanted = command.data.get("status", "all")
        window = float(command.data.get("sinceSeconds", DEFAULT_LIST_WINDOW))
        jobs, as_of = self._status.job_list(messages.client_tag(client.name), window)
        if wanted != "all":
            jobs = [j for j in jobs if (j["status"] == "OPEN") == (wanted == "open")]
        return messages.job_list(jobs, as_of)

    def activity_list(self, command: Command, client: ClientQueues) -> Answer:
        if command.job_id is not None:
            info = self._run_of(command, client)
            job = self._status.job_summary(info)
            activities = list(job.summary.get("activities", []))
            return messages.activity_list(command.job_id, _ref(info), activities, job.as_of)
        return self._open_activities(client)

    def _open_activities(self, client: ClientQueues) -> Answer:
        """Activities of the client's open jobs (the newest few, to bound the reads)."""
        jobs, as_of = self._status.job_list(messages.client_tag(client.name), 0.0)
        activities: list[dict[str, Any]] = []
        for job in [j for j in jobs if j["status"] == "OPEN"][:MAX_JOBS_FOR_ACTIVITY_LIST]:
            info = self._status.find_run(job["workflow"]["workflowId"])
            if info is None:
                continue
            summary = self._status.job_summary(info)
            as_of = min(as_of, summary.as_of)
            activities += [{"jobId": job["jobId"], **a} for a in summary.summary["activities"]]
        return messages.activity_list(None, None, activities, as_of)


def _scheduled(request: commands.StartRequest, info: ExecutionInfo, input: Any) -> Answer:
    workflow = info.workflow
    return messages.workflow_scheduled(
        request.job_id, workflow.workflow_id, workflow.run_id, info.workflow_type, input
    )
