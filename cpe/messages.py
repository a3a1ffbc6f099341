"""The wire protocol: client commands in, events out (DESIGN.md §6).

Commands arrive as JSON on a client's input queue in the original CPE envelope
``{time, type, jobId, data}``; :func:`parse_command` turns a raw body into a :class:`Command`
or raises :class:`CommandRejected` with a reason a person can act on. Events are built here
and nowhere else, so every daemon sends the same shapes:

* ``WORKFLOW_SCHEDULED`` is flat: ``{time, type, jobId, runId, workflowId, workflowType, input}``;
* ``COMMAND_REJECTED`` is flat: ``{time, type, jobId, reason, details}``;
* every other event is ``{time, type, jobId, data: {workflow: {workflowId, runId}, ...}}``.

A job's SWF workflowId is ``<client>.<jobId>``: derived, so a redelivered START_JOB maps to
the same execution, and reversible, so a worker knows which client to tell about a task.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from cpe.errors import CommandRejected
from cpe.state import CANCELED_REASON

# Command types (client -> stack)
START_JOB = "START_JOB"
CANCEL_JOB = "CANCEL_JOB"
CANCEL_ACTIVITY = "CANCEL_ACTIVITY"
GET_JOB_STATUS = "GET_JOB_STATUS"
GET_JOB_LIST = "GET_JOB_LIST"
GET_ACTIVITY_STATUS = "GET_ACTIVITY_STATUS"
GET_ACTIVITY_LIST = "GET_ACTIVITY_LIST"
COMMAND_TYPES = (
    START_JOB,
    CANCEL_JOB,
    CANCEL_ACTIVITY,
    GET_JOB_STATUS,
    GET_JOB_LIST,
    GET_ACTIVITY_STATUS,
    GET_ACTIVITY_LIST,
)

# Event types (stack -> client)
WORKFLOW_SCHEDULED = "WORKFLOW_SCHEDULED"
WORKFLOW_COMPLETED = "WORKFLOW_COMPLETED"
WORKFLOW_FAILED = "WORKFLOW_FAILED"
WORKFLOW_CANCELED = "WORKFLOW_CANCELED"
ACTIVITY_SCHEDULED = "ACTIVITY_SCHEDULED"
ACTIVITY_STARTED = "ACTIVITY_STARTED"
ACTIVITY_PREPARING = "ACTIVITY_PREPARING"
ACTIVITY_PROGRESS = "ACTIVITY_PROGRESS"
ACTIVITY_FINISHING = "ACTIVITY_FINISHING"
ACTIVITY_COMPLETED = "ACTIVITY_COMPLETED"
ACTIVITY_FAILED = "ACTIVITY_FAILED"
ACTIVITY_CANCELED = "ACTIVITY_CANCELED"
ACTIVITY_TIMED_OUT = "ACTIVITY_TIMED_OUT"
ACTIVITY_RETRYING = "ACTIVITY_RETRYING"
JOB_STATUS = "JOB_STATUS"
JOB_LIST = "JOB_LIST"
ACTIVITY_STATUS = "ACTIVITY_STATUS"
ACTIVITY_LIST = "ACTIVITY_LIST"
COMMAND_REJECTED = "COMMAND_REJECTED"
CANCEL_REQUESTED = "CANCEL_REQUESTED"  # acknowledges CANCEL_JOB and CANCEL_ACTIVITY

FINAL_EVENTS = frozenset({WORKFLOW_COMPLETED, WORKFLOW_FAILED, WORKFLOW_CANCELED})
# Answers to queries and cancels: they belong to whoever asked, not to a job's followers.
ANSWER_EVENTS = frozenset(
    {JOB_STATUS, JOB_LIST, ACTIVITY_STATUS, ACTIVITY_LIST, CANCEL_REQUESTED, COMMAND_REJECTED}
)

# Rejection reasons: stable strings clients can switch on.
INVALID_JSON = "INVALID_JSON"
INVALID_COMMAND = "INVALID_COMMAND"
UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
UNKNOWN_WORKFLOW = "UNKNOWN_WORKFLOW"
INVALID_INPUT = "INVALID_INPUT"
INPUT_TOO_LARGE = "INPUT_TOO_LARGE"
CLIENT_MISMATCH = "CLIENT_MISMATCH"
UNKNOWN_JOB = "UNKNOWN_JOB"
UNKNOWN_ACTIVITY = "UNKNOWN_ACTIVITY"
WRONG_DOMAIN = "WRONG_DOMAIN"
JOB_CLOSED = "JOB_CLOSED"
NOT_SUPPORTED = "NOT_SUPPORTED"
SWF_REJECTED = "SWF_REJECTED"
INTERNAL_ERROR = "INTERNAL_ERROR"

MAX_SWF_INPUT = 32768
# SWF forbids ':', '/', '|' and control characters in a workflowId; we also keep '.' for
# the client/job separator out of client names (see cpe.config.CLIENT_NAME).
JOB_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,128}$"
_WORKFLOW_ID = re.compile(r"^(?P<client>[A-Za-z0-9_-]{1,64})\.(?P<job>[A-Za-z0-9_.\-]{1,128})$")

_JOB_ID = {"type": "string", "pattern": JOB_ID_PATTERN}
_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "time": {"type": ["number", "string", "null"]},
        "type": {"type": "string"},
        "jobId": {"type": ["string", "null"]},
        "data": {"type": ["object", "null"]},
    },
}
# Commands about one activity of a job (CANCEL_ACTIVITY, GET_ACTIVITY_STATUS).
_ACTIVITY_COMMAND: dict[str, Any] = {
    "type": "object",
    "required": ["jobId", "data"],
    "properties": {
        "jobId": _JOB_ID,
        "data": {
            "type": "object",
            "required": ["activityId"],
            "properties": {"activityId": {"type": "string"}},
        },
    },
}
_COMMAND_SCHEMAS: dict[str, dict[str, Any]] = {
    START_JOB: {
        "type": "object",
        "required": ["type", "jobId", "data"],
        "properties": {
            "jobId": _JOB_ID,
            "data": {
                "type": "object",
                "required": ["workflow"],
                "properties": {
                    "workflow": {
                        "type": "object",
                        "required": ["name", "version"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 256},
                            "version": {"type": ["string", "number"]},
                            "domain": {"type": "string"},
                            "taskList": {"type": "string"},
                            "executionStartToCloseTimeout": {
                                "anyOf": [
                                    {"type": "integer", "minimum": 1},
                                    {"type": "string", "pattern": r"^\d+$"},
                                ]
                            },
                        },
                    },
                    "client": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "queues": {
                                "type": "object",
                                "properties": {
                                    "input": {"type": "string"},
                                    "output": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    CANCEL_JOB: {"type": "object", "required": ["jobId"], "properties": {"jobId": _JOB_ID}},
    GET_JOB_STATUS: {"type": "object", "required": ["jobId"], "properties": {"jobId": _JOB_ID}},
    CANCEL_ACTIVITY: _ACTIVITY_COMMAND,
    GET_ACTIVITY_STATUS: _ACTIVITY_COMMAND,
    GET_JOB_LIST: {
        "type": "object",
        "properties": {
            "data": {
                "type": ["object", "null"],
                "properties": {
                    "status": {"enum": ["open", "closed", "all"]},
                    "sinceSeconds": {"type": "number", "minimum": 0},
                },
            }
        },
    },
    # Without a jobId: the activities of all the client's open jobs.
    GET_ACTIVITY_LIST: {
        "type": "object",
        "properties": {"jobId": {"anyOf": [_JOB_ID, {"type": "null"}]}},
    },
}


@dataclass(frozen=True)
class Command:
    type: str
    job_id: str | None
    data: Mapping[str, Any]
    sent_at: float | None
    raw: Mapping[str, Any]

    @property
    def activity_id(self) -> str | None:
        value = self.data.get("activityId")
        return value if isinstance(value, str) else None


def parse_command(body: str) -> Command:
    """Decode and validate one command body; raises CommandRejected with a clear reason."""
    try:
        raw = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise CommandRejected(INVALID_JSON, f"the message is not valid JSON: {exc}") from exc
    _validate(_ENVELOPE, raw, None)
    job_id = raw.get("jobId") if isinstance(raw.get("jobId"), str) else None
    command_type = raw["type"]
    schema = _COMMAND_SCHEMAS.get(command_type)
    if schema is None:
        known = ", ".join(COMMAND_TYPES)
        raise CommandRejected(
            UNKNOWN_COMMAND,
            f"unknown command type {command_type!r}; expected one of {known}",
            job_id,
        )
    _validate(schema, raw, job_id)
    sent_at = raw.get("time")
    return Command(
        type=command_type,
        job_id=job_id,
        data=raw.get("data") or {},
        sent_at=float(sent_at) if isinstance(sent_at, (int, float)) else None,
        raw=raw,
    )


def _validate(schema: Mapping[str, Any], instance: Any, job_id: str | None) -> None:
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(instance)
    )
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(message)"
        raise CommandRejected(INVALID_COMMAND, f"{where}: {error.message}", job_id)


# --- ids ------------------------------------------------------------------------------


def workflow_id_for(client: str, job_id: str) -> str:
    return f"{client}.{job_id}"


def job_of_workflow_id(workflow_id: str) -> tuple[str, str] | None:
    """``(client, jobId)`` of a CPE workflowId, or None for executions CPE did not start."""
    match = _WORKFLOW_ID.match(workflow_id)
    return (match["client"], match["job"]) if match else None


def client_tag(client: str) -> str:
    """The SWF tag on every execution of a client, so its job list is one filtered call."""
    return f"client:{client}"


# --- events ---------------------------------------------------------------------------


def _now() -> float:
    return round(time.time(), 3)


def workflow_ref(workflow_id: str, run_id: str) -> dict[str, str]:
    return {"workflowId": workflow_id, "runId": run_id}


def activity_ref(activity_id: str, activity_type: tuple[str, str], **fields: Any) -> dict[str, Any]:
    """The ``activity`` object of an event; extra fields (input, result, progress) are added."""
    ref: dict[str, Any] = {
        "activityId": activity_id,
        "activityType": {"name": activity_type[0], "version": activity_type[1]},
    }
    ref.update({key: value for key, value in fields.items() if value is not None})
    return ref


def event(
    event_type: str,
    job_id: str,
    workflow: Mapping[str, str],
    activity: Mapping[str, Any] | None = None,
    **data: Any,
) -> dict[str, Any]:
    """Any event but WORKFLOW_SCHEDULED and COMMAND_REJECTED."""
    body: dict[str, Any] = {"workflow": dict(workflow)}
    if activity is not None:
        body["activity"] = dict(activity)
    body.update(data)
    return {"time": _now(), "type": event_type, "jobId": job_id, "data": body}


def workflow_scheduled(
    job_id: str, workflow_id: str, run_id: str, workflow_type: tuple[str, str], input: Any
) -> dict[str, Any]:
    return {
        "time": _now(),
        "type": WORKFLOW_SCHEDULED,
        "jobId": job_id,
        "runId": run_id,
        "workflowId": workflow_id,
        "workflowType": {"name": workflow_type[0], "version": workflow_type[1]},
        "input": input,
    }


def activity_scheduled(
    job_id: str,
    workflow: Mapping[str, str],
    activity_id: str,
    activity_type: tuple[str, str],
    input: Any,
) -> dict[str, Any]:
    # The original decider also sent the version on its own; kept so old clients still parse it.
    activity = activity_ref(
        activity_id, activity_type, input=input, activityVersion=activity_type[1]
    )
    return event(ACTIVITY_SCHEDULED, job_id, workflow, activity)


def activity_failed(
    job_id: str,
    workflow: Mapping[str, str],
    activity_id: str,
    activity_type: tuple[str, str],
    reason: str,
    details: str,
) -> dict[str, Any]:
    activity = activity_ref(
        activity_id, activity_type, result={"reason": reason, "details": details}
    )
    return event(ACTIVITY_FAILED, job_id, workflow, activity)


def canceled_result(details: str) -> dict[str, str]:
    """ACTIVITY_CANCELED's ``activity.result``: the shape of a failure, as the step counts it."""
    return {"reason": CANCELED_REASON, "details": details}


def command_rejected(job_id: str | None, reason: str, details: str) -> dict[str, Any]:
    return {
        "time": _now(),
        "type": COMMAND_REJECTED,
        "jobId": job_id,
        "reason": reason,
        "details": details,
    }


def cancel_requested(
    job_id: str, workflow: Mapping[str, str], activity: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The answer to CANCEL_JOB (WORKFLOW_CANCELED comes later) and, with the ``activity``, to
    CANCEL_ACTIVITY (ACTIVITY_CANCELED comes later, unless the activity ends first)."""
    return event(CANCEL_REQUESTED, job_id, workflow, activity)


def job_status(
    job_id: str, workflow: Mapping[str, str], status: Mapping[str, Any]
) -> dict[str, Any]:
    """The answer to GET_JOB_STATUS; ``status`` holds status, steps, times and ``asOf``."""
    return event(JOB_STATUS, job_id, workflow, **status)


def activity_status(
    job_id: str, workflow: Mapping[str, str], activity: Mapping[str, Any], as_of: float
) -> dict[str, Any]:
    """The answer to GET_ACTIVITY_STATUS: one step of a job (``activity`` has its state)."""
    return event(ACTIVITY_STATUS, job_id, workflow, activity, asOf=as_of)


def activity_list(
    job_id: str | None,
    workflow: Mapping[str, str] | None,
    activities: list[dict[str, Any]],
    as_of: float,
) -> dict[str, Any]:
    """The answer to GET_ACTIVITY_LIST: a job's activities, or (no jobId) those of open jobs."""
    if workflow is not None and job_id is not None:
        return event(ACTIVITY_LIST, job_id, workflow, activities=activities, asOf=as_of)
    data = {"activities": activities, "asOf": as_of}
    return {"time": _now(), "type": ACTIVITY_LIST, "jobId": None, "data": data}


def job_list(jobs: list[dict[str, Any]], as_of: float) -> dict[str, Any]:
    """The answer to GET_JOB_LIST; not about one job, so ``jobId`` is null and no workflow."""
    return {"time": _now(), "type": JOB_LIST, "jobId": None, "data": {"jobs": jobs, "asOf": as_of}}


def decode_json(text: str | None) -> Any:
    """Results and inputs travel as JSON strings; show them decoded when they are JSON."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
