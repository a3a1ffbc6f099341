"""The SWF and SQS gateways against a real emulator process.

What matters here is the gateways' own behaviour: typed results, empty long polls as None,
errors in the project's tree, and recovery when the endpoint forgets what was registered
(an emulator restarted without its state, a domain or queue deleted by hand).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpe import aws
from cpe.config import AwsSettings
from cpe.errors import AlreadyExists, InvalidRequest, UnknownResource
from cpe.sqs import SqsGateway
from cpe.swf import SwfGateway, WorkflowRef
from tests.support.emulator import EmulatorProcess


@pytest.fixture
def settings(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> AwsSettings:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return AwsSettings(region="us-east-1", endpoint_url=emulator.endpoint_url)


def registered_swf(settings: AwsSettings) -> SwfGateway:
    swf = SwfGateway(aws.swf_client(settings), "gw-test")
    swf.ensure_domain()
    swf.ensure_workflow_type(
        "Flow", "1", task_list="decisions", execution_timeout="600", task_timeout="30"
    )
    swf.ensure_activity_type(
        "Work",
        "1",
        task_list="work",
        heartbeat_timeout="NONE",
        schedule_to_close_timeout="NONE",
        schedule_to_start_timeout="NONE",
        start_to_close_timeout="60",
    )
    return swf


def test_registration_is_idempotent_and_start_is_exclusive(settings: AwsSettings) -> None:
    swf = registered_swf(settings)
    registered_swf(settings)  # a second daemon registering the same things is fine
    run_id = swf.start_workflow(
        "c.job-1", ("Flow", "1"), task_list="decisions", input="{}", tags=["client:c"]
    )
    assert run_id
    with pytest.raises(AlreadyExists):
        swf.start_workflow("c.job-1", ("Flow", "1"), task_list="decisions", input="{}")


def test_decision_task_is_typed_and_history_matches(settings: AwsSettings) -> None:
    swf = registered_swf(settings)
    run_id = swf.start_workflow("c.job-2", ("Flow", "1"), task_list="decisions", input='{"x": 1}')
    task = swf.poll_decision("decisions", "test")
    assert task is not None
    assert task.workflow == WorkflowRef("c.job-2", run_id)
    assert task.workflow_type == ("Flow", "1")
    assert task.events[0]["eventType"] == "WorkflowExecutionStarted"
    assert task.events[-1]["eventType"] == "DecisionTaskStarted"
    assert task.started_event_id == task.events[-1]["eventId"]
    schedule = {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {
            "activityType": {"name": "Work", "version": "1"},
            "activityId": "step",
            "input": "[1]",
        },
    }
    swf.respond_decision(task.token, [schedule])
    history = [e["eventType"] for e in swf.history(task.workflow)]
    assert history[-1] == "ActivityTaskScheduled"
    activity = swf.poll_activity("work", "test")
    assert activity is not None
    assert (activity.activity_id, activity.activity_type, activity.input) == (
        "step",
        ("Work", "1"),
        "[1]",
    )
    assert swf.heartbeat(activity.token, "half way") is False
    swf.complete_activity(activity.token, json.dumps({"ok": True}))
    with pytest.raises(UnknownResource):
        swf.complete_activity(activity.token, "{}")  # the task is closed: SWF says it is unknown


def test_empty_long_polls_return_none(settings: AwsSettings) -> None:
    swf = registered_swf(settings)
    assert swf.poll_decision("decisions", "test") is None
    assert swf.poll_activity("work", "test") is None


def test_swf_gateway_registers_again_after_the_endpoint_forgot(
    settings: AwsSettings, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    swf = registered_swf(settings)
    emulator.kill()
    (tmp_path / "emulator-state.pickle").unlink(missing_ok=True)
    emulator.restart()  # empty: no domain, no types
    run_id = swf.start_workflow("c.job-3", ("Flow", "1"), task_list="decisions", input="{}")
    task = swf.poll_decision("decisions", "test")
    assert task is not None and task.workflow.run_id == run_id


def test_queue_with_dead_letter_queue_round_trips(settings: AwsSettings) -> None:
    sqs = SqsGateway(aws.sqs_client(settings))
    url = sqs.ensure_queue("gw-in", dead_letter=True)
    assert sqs.ensure_queue("gw-in", dead_letter=True) == url
    dlq = sqs.dead_letter_url(url)
    assert dlq is not None and dlq.endswith("/gw-in-dlq")
    sqs.send_json(url, {"hello": "world"})
    [message] = sqs.receive(url, wait_seconds=1)
    assert json.loads(message.body) == {"hello": "world"}
    assert message.receive_count == 1
    sqs.delete(url, message.receipt)
    assert sqs.receive(url, wait_seconds=0) == []


def test_oversized_message_is_refused_before_sending(settings: AwsSettings) -> None:
    sqs = SqsGateway(aws.sqs_client(settings))
    url = sqs.ensure_queue("gw-big")
    with pytest.raises(InvalidRequest, match="over SQS"):
        sqs.send(url, "x" * (256 * 1024 + 1))


def test_sqs_gateway_recreates_a_lost_queue(
    settings: AwsSettings, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    sqs = SqsGateway(aws.sqs_client(settings))
    url = sqs.ensure_queue("gw-lost")
    emulator.kill()
    (tmp_path / "emulator-state.pickle").unlink(missing_ok=True)
    emulator.restart()
    sqs.send_json(url, {"n": 1})
    [message] = sqs.receive(url, wait_seconds=1)
    assert json.loads(message.body) == {"n": 1}
