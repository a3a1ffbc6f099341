"""cpe.messages: commands parsed in the original envelope, stable rejection reasons, event shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cpe import messages
from cpe.errors import CommandRejected


def body(**fields: Any) -> str:
    return json.dumps({"time": 1437447258.98, **fields})


START = {
    "type": "START_JOB",
    "jobId": "954e8de9dfa0d44d1e2f21eda6881e74",
    "data": {
        "workflow": {"name": "Transcode", "version": "1.0", "domain": "cpe", "taskList": "d"},
        "client": {"name": "demo", "queues": {"input": "in", "output": "out"}},
        "asset": "s3://bucket/key",
    },
}


def test_original_start_job_envelope_parses() -> None:
    command = messages.parse_command(body(**START))
    assert command.type == "START_JOB"
    assert command.job_id == START["jobId"]
    assert command.data["asset"] == "s3://bucket/key"
    assert command.sent_at == pytest.approx(1437447258.98)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{nope", messages.INVALID_JSON),
        ("", messages.INVALID_JSON),
        ("[]", messages.INVALID_COMMAND),
        (body(jobId="x"), messages.INVALID_COMMAND),
        (body(type="LAUNCH", jobId="x"), messages.UNKNOWN_COMMAND),
        (body(type="START_JOB", jobId="x"), messages.INVALID_COMMAND),
        (body(type="START_JOB", jobId="a:b", data=START["data"]), messages.INVALID_COMMAND),
        (
            body(type="START_JOB", jobId="x", data={"workflow": {"name": "T"}}),
            messages.INVALID_COMMAND,
        ),
        (body(type="CANCEL_JOB"), messages.INVALID_COMMAND),
        (body(type="GET_ACTIVITY_STATUS", jobId="x", data={}), messages.INVALID_COMMAND),
        (body(type="GET_JOB_LIST", data={"status": "maybe"}), messages.INVALID_COMMAND),
    ],
)
def test_bad_commands_are_rejected_with_a_stable_reason(text: str, reason: str) -> None:
    with pytest.raises(CommandRejected) as caught:
        messages.parse_command(text)
    assert caught.value.reason == reason
    assert caught.value.details


def test_rejection_keeps_the_job_id_when_there_is_one() -> None:
    with pytest.raises(CommandRejected) as caught:
        messages.parse_command(body(type="LAUNCH", jobId="job-7"))
    assert caught.value.job_id == "job-7"


def test_activity_list_accepts_a_null_job_id() -> None:
    command = messages.parse_command(body(type="GET_ACTIVITY_LIST", jobId=None))
    assert command.job_id is None


def test_workflow_ids_round_trip() -> None:
    workflow_id = messages.workflow_id_for("demo", "job.1-a")
    assert workflow_id == "demo.job.1-a"
    assert messages.job_of_workflow_id(workflow_id) == ("demo", "job.1-a")
    assert messages.job_of_workflow_id("not-cpe") is None
    assert messages.client_tag("demo") == "client:demo"


def test_event_shapes() -> None:
    ref = messages.workflow_ref("demo.j", "run-1")
    scheduled = messages.workflow_scheduled("j", "demo.j", "run-1", ("T", "1"), {"a": 1})
    assert set(scheduled) == {
        "time",
        "type",
        "jobId",
        "runId",
        "workflowId",
        "workflowType",
        "input",
    }
    rejected = messages.command_rejected("j", "INVALID_JSON", "bad")
    assert set(rejected) == {"time", "type", "jobId", "reason", "details"}
    ack = messages.cancel_requested("j", ref)
    assert ack["type"] == "CANCEL_REQUESTED" and ack["data"] == {"workflow": ref}
    status = messages.job_status("j", ref, {"status": "OPEN", "steps": [], "asOf": 1.0})
    assert status["data"]["workflow"] == ref and status["data"]["status"] == "OPEN"
    listed = messages.job_list([{"jobId": "j"}], 2.0)
    assert listed["jobId"] is None and listed["data"] == {"jobs": [{"jobId": "j"}], "asOf": 2.0}
    across = messages.activity_list(None, None, [], 3.0)
    assert across["data"] == {"activities": [], "asOf": 3.0}
    one = messages.activity_status("j", ref, {"activityId": "A"}, 4.0)
    assert one["data"]["activity"] == {"activityId": "A"} and one["data"]["asOf"] == 4.0


def test_activity_scheduled_keeps_the_original_version_field() -> None:
    ref = messages.workflow_ref("demo.j", "run-1")
    event = messages.activity_scheduled("j", ref, "Step", ("Act", "2"), {"x": 1})
    activity = event["data"]["activity"]
    assert activity["activityType"] == {"name": "Act", "version": "2"}
    assert activity["activityVersion"] == "2"
