"""SWF HTTP layer: moto's SWFResponse, bound to our backend and serialised by its lock.

Parameter parsing and the domain/type calls are moto's. We override the calls whose AWS
behaviour moto lacks: paging, long polls, cancellation, list filters, heartbeat answers.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any, ClassVar

from moto.core.common_types import TYPE_RESPONSE
from moto.swf.exceptions import SWFValidationException
from moto.swf.responses import SWFResponse

from emulator.swf_backend import EmuSWFBackend, list_filter, require
from emulator.swf_model import EmuRun

log = logging.getLogger(__name__)

MAX_PAGE = 1000
READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Count", "Poll")


def encode_page(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def decode_page(token: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as exc:
        raise SWFValidationException("Invalid nextPageToken") from exc
    return data


def page_of(
    items: list[Any], params: dict[str, Any], extra: dict[str, Any]
) -> tuple[list[Any], str | None]:
    """Slice items per maximumPageSize/nextPageToken; the token carries the next offset."""
    size = params.get("maximumPageSize") or MAX_PAGE
    require(isinstance(size, int) and 0 < size <= MAX_PAGE, "maximumPageSize must be 1..1000")
    offset = 0
    if params.get("nextPageToken"):
        offset = int(decode_page(params["nextPageToken"]).get("offset", 0))
    end = offset + size
    token = encode_page({**extra, "offset": end}) if end < len(items) else None
    return items[offset:end], token


class EmuSWFResponse(SWFResponse):
    backend: ClassVar[EmuSWFBackend]

    @property
    def swf_backend(self) -> EmuSWFBackend:
        return type(self).backend

    def call_action(self) -> TYPE_RESPONSE:
        action = self._get_action()
        with self.swf_backend.lock:
            try:
                result = super().call_action()
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                # moto indexes request params directly; a missing or mistyped one is SWF's
                # ValidationException (400), never a 500.
                log.info("rejected %s: %r", action, exc)
                body = {
                    "__type": "com.amazon.coral.validate#ValidationException",
                    "message": repr(exc),
                }
                return 400, {"status": "400"}, json.dumps(body)
            if result[0] < 300 and not action.startswith(READ_ONLY_PREFIXES):
                self.swf_backend.version += 1
            return result

    # -- decision tasks ------------------------------------------------------------------
    def poll_for_decision_task(self) -> str:
        params = self._params
        domain, task_list = params["domain"], params["taskList"]["name"]
        self._check_string(domain)
        self._check_string(task_list)
        if params.get("nextPageToken"):
            token = decode_page(params["nextPageToken"])["task"]
            run, task = self.swf_backend.started_decision_for(token)
        else:
            polled = self.swf_backend.poll_for_decision(domain, task_list, params.get("identity"))
            if polled is None:
                return json.dumps({"previousStartedEventId": 0, "startedEventId": 0})
            run, task = polled
        events = run.history[: task.started_event_id]
        if params.get("startAtPreviousStartedEvent"):
            events = events[task.previous_started_event_id :]
        if params.get("reverseOrder"):
            events = events[::-1]
        page, next_token = page_of(events, params, {"task": task.token})
        body: dict[str, Any] = {
            "taskToken": task.token,
            "startedEventId": task.started_event_id,
            "previousStartedEventId": task.previous_started_event_id,
            "workflowExecution": run.to_short_dict(),
            "workflowType": run.workflow_type.to_short_dict(),
            "events": page,
        }
        if next_token:
            body["nextPageToken"] = next_token
        return json.dumps(body)

    def count_pending_decision_tasks(self) -> str:
        count = self.swf_backend.count_pending_decisions(
            self._params["domain"], self._params["taskList"]["name"]
        )
        return json.dumps({"count": count, "truncated": False})

    # -- activity tasks ------------------------------------------------------------------
    def poll_for_activity_task(self) -> str:
        params = self._params
        task = self.swf_backend.poll_for_activity(
            params["domain"], params["taskList"]["name"], params.get("identity")
        )
        if task is None:
            return json.dumps({"startedEventId": 0})
        return json.dumps(task.poll_response())

    def count_pending_activity_tasks(self) -> str:
        count = self.swf_backend.count_pending_activities(
            self._params["domain"], self._params["taskList"]["name"]
        )
        return json.dumps({"count": count, "truncated": False})

    def record_activity_task_heartbeat(self) -> str:
        params = self._params
        self._check_none_or_string(params.get("details"))
        cancel = self.swf_backend.heartbeat(params["taskToken"], params.get("details"))
        return json.dumps({"cancelRequested": cancel})

    def respond_activity_task_canceled(self) -> str:
        params = self._params
        self._check_none_or_string(params.get("details"))
        self.swf_backend.respond_activity_task_canceled(params["taskToken"], params.get("details"))
        return ""

    # -- workflow executions -------------------------------------------------------------
    def request_cancel_workflow_execution(self) -> str:
        params = self._params
        self.swf_backend.request_cancel(params["domain"], params["workflowId"], params.get("runId"))
        return ""

    def signal_workflow_execution(self) -> str:
        params = self._params
        self._check_none_or_string(params.get("input"))
        self.swf_backend.signal_workflow_execution(
            params["domain"],
            params["signalName"],
            params["workflowId"],
            params.get("input"),
            params.get("runId"),
        )
        return ""

    def _run(self) -> EmuRun:
        domain, run_id, workflow_id = self._get_workflow_execution_params()
        return self.swf_backend.get_run(domain, workflow_id, run_id)

    def describe_workflow_execution(self) -> str:
        return json.dumps(self._run().describe())

    def get_workflow_execution_history(self) -> str:
        run = self._run()
        events = run.history[::-1] if self._params.get("reverseOrder") else run.history
        page, next_token = page_of(events, self._params, {})
        body: dict[str, Any] = {"events": page}
        if next_token:
            body["nextPageToken"] = next_token
        return json.dumps(body)

    def list_open_workflow_executions(self) -> str:
        params = self._params
        require("startTimeFilter" in params, "startTimeFilter is required")
        return self._list(
            list(self.swf_backend._get_domain(params["domain"]).open_runs.values()),
            "startTimeFilter",
        )

    def list_closed_workflow_executions(self) -> str:
        params = self._params
        self._check_exclusivity(
            startTimeFilter=params.get("startTimeFilter"),
            closeTimeFilter=params.get("closeTimeFilter"),
        )
        require(
            bool(params.get("startTimeFilter") or params.get("closeTimeFilter")),
            "Must specify time filter",
        )
        key = "startTimeFilter" if params.get("startTimeFilter") else "closeTimeFilter"
        runs = list(self.swf_backend._get_domain(params["domain"]).closed_runs.values())
        return self._list(runs, key)

    def _list(self, runs: list[EmuRun], time_key: str) -> str:
        params = self._params
        self._check_exclusivity(
            executionFilter=params.get("executionFilter"),
            typeFilter=params.get("typeFilter"),
            tagFilter=params.get("tagFilter"),
            closeStatusFilter=params.get("closeStatusFilter"),
        )
        matches = [run for run in runs if list_filter(run, params, time_key)]
        # SWF sorts by descending start (or close) time; reverseOrder flips it.
        attr = "start_timestamp" if time_key == "startTimeFilter" else "close_timestamp"
        matches.sort(
            key=lambda run: getattr(run, attr) or 0.0, reverse=not params.get("reverseOrder")
        )
        page, next_token = page_of(matches, params, {})
        body: dict[str, Any] = {"executionInfos": [run.info() for run in page]}
        if next_token:
            body["nextPageToken"] = next_token
        return json.dumps(body)
