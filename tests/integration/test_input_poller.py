"""``cpe input-poller`` as a real process on the emulator, driven only through SQS.

No decider runs here: these tests cover what the input poller alone answers (starts, repeats,
rejections, status from history, lists, cancel requests, restarts). Tests that need a
decider to move jobs forward live in test_input_poller_decider.py.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from tests.integration.test_input_poller_support import (
    CLIENT_A,
    CLIENT_B,
    Queues,
    command,
    eventually,
    make_config,
    queues_of,
    stack,
    start_job,
)
from tests.support.emulator import EmulatorProcess
from tests.support.stack import DaemonSet

__all__ = ["stack"]  # the fixture, imported so pytest finds it


def open_runs(emulator: EmulatorProcess, workflow_id: str) -> list[dict[str, Any]]:
    swf = emulator.client("swf")
    found = swf.list_open_workflow_executions(
        domain="cpe-test",
        startTimeFilter={"oldestDate": 0},
        executionFilter={"workflowId": workflow_id},
    )
    return list(found["executionInfos"])


def test_same_start_job_three_times_starts_one_workflow(
    stack: DaemonSet, emulator: EmulatorProcess
) -> None:
    alpha = queues_of(emulator, CLIENT_A)
    body = json.dumps(start_job("job-1", CLIENT_A))
    for _ in range(3):
        alpha.send(body)
    answers = alpha.answers(3)
    assert {a["type"] for a in answers} == {"WORKFLOW_SCHEDULED"}
    assert len({(a["runId"], a["workflowId"], json.dumps(a["input"])) for a in answers}) == 1
    first = answers[0]
    assert first["workflowId"] == "alpha.job-1"
    assert first["workflowType"] == {"name": "InputEcho", "version": "1.0"}
    assert first["input"]["client"] == CLIENT_A  # the configured client, as templates see it
    runs = open_runs(emulator, "alpha.job-1")
    assert [r["execution"]["runId"] for r in runs] == [first["runId"]]
    assert runs[0]["tagList"] == ["client:alpha"]
    alpha.nothing_more(alpha.dlq_url, seconds=1)


def test_repeated_start_job_with_other_data_gets_the_first_answer(
    stack: DaemonSet, emulator: EmulatorProcess
) -> None:
    alpha = queues_of(emulator, CLIENT_A)
    alpha.send(start_job("job-again", CLIENT_A, payload={"n": 1}))
    first = alpha.answer()
    alpha.send(start_job("job-again", CLIENT_A, payload={"n": 2}))
    again = alpha.answer()
    assert again["runId"] == first["runId"]
    assert again["input"] == first["input"]
    assert again["input"]["payload"] == {"n": 1}  # what the run was started with


def test_start_job_after_its_run_closed_starts_nothing(
    stack: DaemonSet, emulator: EmulatorProcess
) -> None:
    alpha = queues_of(emulator, CLIENT_A)
    alpha.send(start_job("job-closed", CLIENT_A))
    run_id = alpha.answer()["runId"]
    emulator.client("swf").terminate_workflow_execution(
        domain="cpe-test", workflowId="alpha.job-closed", reason="test"
    )
    alpha.send(start_job("job-closed", CLIENT_A))
    again = alpha.answer()
    assert (again["type"], again["runId"]) == ("WORKFLOW_SCHEDULED", run_id)
    assert open_runs(emulator, "alpha.job-closed") == []


def malformed(index: int) -> str:
    """One of many kinds of bad commands, each with a distinct jobId where one fits."""
    job = f"bad-{index}"
    kinds: list[Any] = [
        "not json at all",
        "{truncated",
        "",
        "[1, 2, 3]",
        "42",
        json.dumps({"jobId": job}),  # no type
        json.dumps({"type": 7, "jobId": job}),
        json.dumps({"type": "FLY_TO_MOON", "jobId": job}),
        json.dumps({"type": "START_JOB", "jobId": job}),  # no data
        json.dumps({"type": "START_JOB", "jobId": job, "data": {}}),  # no workflow
        json.dumps({"type": "START_JOB", "jobId": job, "data": {"workflow": "InputEcho"}}),
        json.dumps(start_job(job, CLIENT_A) | {"jobId": 12}),
        json.dumps(start_job(f"{job}:colon", CLIENT_A)),  # forbidden in a workflowId
        json.dumps(
            start_job(job, CLIENT_A) | {"data": {"workflow": {"name": "Nope", "version": "1"}}}
        ),
        json.dumps(start_job(job, CLIENT_A, workflow={"name": "InputEcho", "version": "9"})),
        json.dumps(
            start_job(
                job,
                CLIENT_A,
                workflow={**start_job(job, CLIENT_A)["data"]["workflow"], "domain": "other"},
            )
        ),
        json.dumps(start_job(job, CLIENT_A, payload="not an object")),  # input_spec
        json.dumps(start_job(job, CLIENT_A, payload={"blob": "x" * 40_000})),  # over 32,768
        json.dumps(start_job(job, CLIENT_B)),  # another client's queues
        json.dumps(start_job(job, {**CLIENT_A, "name": "beta"})),
        json.dumps(
            start_job(job, {**CLIENT_A, "queues": {"input": "alpha-input", "output": "evil"}})
        ),
        json.dumps(command("CANCEL_JOB", None)),
        json.dumps(command("CANCEL_JOB", f"{job}-never-started")),
        json.dumps(command("GET_JOB_STATUS", f"{job}-unknown")),
        json.dumps(command("GET_ACTIVITY_STATUS", job)),  # no activityId
        json.dumps(command("GET_JOB_LIST", None, status="sideways")),
        json.dumps(command("CANCEL_ACTIVITY", job, activityId=5)),
        json.dumps({"type": "START_JOB", "jobId": job, "data": None}),
    ]
    return str(kinds[index % len(kinds)])


def test_malformed_messages_are_rejected_dead_lettered_and_daemon_lives(
    stack: DaemonSet, emulator: EmulatorProcess
) -> None:
    alpha = queues_of(emulator, CLIENT_A)
    sent = [malformed(i) for i in range(200)]
    for start in range(0, 200, 10):
        alpha.sqs.send_message_batch(
            QueueUrl=alpha.input_url,
            Entries=[
                {"Id": str(i), "MessageBody": sent[i] or " "} for i in range(start, start + 10)
            ],
        )
    answers = alpha.answers(200, timeout=120)
    assert [a["type"] for a in answers] == ["COMMAND_REJECTED"] * 200
    assert all(a["reason"] and a["details"] for a in answers)
    reasons = {a["reason"] for a in answers}
    assert {"INVALID_JSON", "INVALID_COMMAND", "UNKNOWN_COMMAND", "UNKNOWN_WORKFLOW"} <= reasons
    assert {"INVALID_INPUT", "INPUT_TOO_LARGE", "CLIENT_MISMATCH", "WRONG_DOMAIN"} <= reasons
    assert {"UNKNOWN_JOB"} <= reasons
    dead = alpha.drain(alpha.dlq_url, 200, timeout=60)
    assert sorted(dead) == sorted(body or " " for body in sent)
    assert stack.alive("input-poller")
    alpha.send(start_job("good-after-bad", CLIENT_A))
    assert alpha.answer()["type"] == "WORKFLOW_SCHEDULED"
    assert open_runs(emulator, "alpha.bad-0") == []


def test_each_client_gets_its_own_answers(stack: DaemonSet, emulator: EmulatorProcess) -> None:
    alpha, beta = queues_of(emulator, CLIENT_A), queues_of(emulator, CLIENT_B)
    alpha.send(start_job("shared-id", CLIENT_A))
    beta.send(start_job("shared-id", CLIENT_B))
    assert alpha.answer()["workflowId"] == "alpha.shared-id"
    assert beta.answer()["workflowId"] == "beta.shared-id"
    # beta cannot ask about alpha's jobs: the jobId is looked up under its own client.
    beta.send(command("GET_JOB_STATUS", "only-alpha"))
    alpha.send(start_job("only-alpha", CLIENT_A))
    assert alpha.answer()["type"] == "WORKFLOW_SCHEDULED"
    assert beta.answer()["reason"] == "UNKNOWN_JOB"
    alpha.nothing_more(seconds=1)


def schedule_first_step(emulator: EmulatorProcess) -> None:
    """Stand in for a decider once: schedule activity 'First' of the waiting run."""
    swf = emulator.client("swf")
    swf.register_activity_type(
        domain="cpe-test", name="InputEchoActivity", version="1", defaultTaskList={"name": "x"}
    )
    task = swf.poll_for_decision_task(domain="cpe-test", taskList={"name": "cpe-decisions"})
    assert task.get("taskToken"), "no decision task"
    swf.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=[
            {
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": {
                    "activityType": {"name": "InputEchoActivity", "version": "1"},
                    "activityId": "First",
                    "control": json.dumps({"step": "First", "attempt": 1}),
                    "taskList": {"name": "InputEchoActivity-1"},
                    "input": "{}",
                    "scheduleToCloseTimeout": "600",
                    "scheduleToStartTimeout": "600",
                    "startToCloseTimeout": "600",
                    "heartbeatTimeout": "600",
                },
            }
        ],
    )


def test_status_and_list_answers(stack: DaemonSet, emulator: EmulatorProcess) -> None:
    alpha = queues_of(emulator, CLIENT_A)
    alpha.send(start_job("status-1", CLIENT_A))
    scheduled = alpha.answer()
    alpha.send(command("GET_JOB_STATUS", "status-1"))
    status = alpha.answer()
    assert status["type"] == "JOB_STATUS" and status["jobId"] == "status-1"
    data = status["data"]
    assert data["workflow"] == {"workflowId": "alpha.status-1", "runId": scheduled["runId"]}
    assert data["status"] == "OPEN" and data["asOf"] > 0
    assert [(s["name"], s["status"]) for s in data["steps"]] == [
        ("First", "pending"),
        ("Second", "pending"),
    ]

    schedule_first_step(emulator)
    alpha.send(command("GET_ACTIVITY_STATUS", "status-1", activityId="First"))
    activity = alpha.answer()
    assert activity["type"] == "ACTIVITY_STATUS"
    assert activity["data"]["activity"]["activityId"] == "First"
    assert activity["data"]["activity"]["status"] == "scheduled"
    assert activity["data"]["activity"]["activityType"] == {
        "name": "InputEchoActivity",
        "version": "1",
    }
    alpha.send(command("GET_ACTIVITY_STATUS", "status-1", activityId="Second"))
    assert alpha.answer()["reason"] == "UNKNOWN_ACTIVITY"
    alpha.send(command("GET_ACTIVITY_LIST", "status-1"))
    listed = alpha.answer()
    assert listed["type"] == "ACTIVITY_LIST"
    assert [a["activityId"] for a in listed["data"]["activities"]] == ["First"]
    alpha.send(command("GET_ACTIVITY_LIST", None))
    across = alpha.answer()["data"]["activities"]
    assert [(a["jobId"], a["activityId"]) for a in across] == [("status-1", "First")]

    alpha.send(start_job("status-2", CLIENT_A))
    alpha.answer()
    alpha.send(command("GET_JOB_LIST", None))
    jobs = alpha.answer()
    assert jobs["type"] == "JOB_LIST"
    assert sorted(j["jobId"] for j in jobs["data"]["jobs"]) == ["status-1", "status-2"]
    assert {j["status"] for j in jobs["data"]["jobs"]} == {"OPEN"}
    alpha.send(command("GET_JOB_LIST", None, status="closed"))
    assert alpha.answer()["data"]["jobs"] == []


def test_cancel_job_requests_cancellation(stack: DaemonSet, emulator: EmulatorProcess) -> None:
    alpha = queues_of(emulator, CLIENT_A)
    alpha.send(start_job("cancel-1", CLIENT_A))
    run_id = alpha.answer()["runId"]
    alpha.send(command("CANCEL_JOB", "cancel-1"))
    ack = alpha.answer()
    assert ack["type"] == "CANCEL_REQUESTED"
    assert ack["data"]["workflow"] == {"workflowId": "alpha.cancel-1", "runId": run_id}
    alpha.send(command("GET_JOB_STATUS", "cancel-1"))
    assert alpha.answer()["data"]["cancelRequested"] is True


def signals_of(emulator: EmulatorProcess, workflow_id: str) -> list[tuple[str, Any]]:
    history = emulator.client("swf").get_workflow_execution_history(
        domain="cpe-test",
        execution={"workflowId": workflow_id, "runId": run_of(emulator, workflow_id)},
    )
    return [
        (
            e["workflowExecutionSignaledEventAttributes"]["signalName"],
            json.loads(e["workflowExecutionSignaledEventAttributes"]["input"]),
        )
        for e in history["events"]
        if e["eventType"] == "WorkflowExecutionSignaled"
    ]


def run_of(emulator: EmulatorProcess, workflow_id: str) -> str:
    return str(open_runs(emulator, workflow_id)[0]["execution"]["runId"])


def test_cancel_activity_signals_the_run_for_an_open_activity_only(
    stack: DaemonSet, emulator: EmulatorProcess
) -> None:
    alpha = queues_of(emulator, CLIENT_A)
    alpha.send(start_job("cancel-act", CLIENT_A))
    run_id = alpha.answer()["runId"]
    alpha.send(command("CANCEL_ACTIVITY", "cancel-act", activityId="First"))
    refused = alpha.answer()
    assert (refused["type"], refused["reason"]) == ("COMMAND_REJECTED", "UNKNOWN_ACTIVITY")
    assert "open: none" in refused["details"]

    schedule_first_step(emulator)
    alpha.send(command("CANCEL_ACTIVITY", "cancel-act", activityId="First"))
    ack = alpha.answer()
    assert ack["type"] == "CANCEL_REQUESTED"
    assert ack["data"]["workflow"] == {"workflowId": "alpha.cancel-act", "runId": run_id}
    activity = ack["data"]["activity"]
    assert (activity["activityId"], activity["status"]) == ("First", "scheduled")
    assert activity["activityType"] == {"name": "InputEchoActivity", "version": "1"}
    assert signals_of(emulator, "alpha.cancel-act") == [
        ("cpe.cancel_activity", {"activityId": "First"})
    ]
    alpha.send(command("CANCEL_ACTIVITY", "cancel-act", activityId="Second"))
    assert alpha.answer()["reason"] == "UNKNOWN_ACTIVITY"

    emulator.client("swf").terminate_workflow_execution(
        domain="cpe-test", workflowId="alpha.cancel-act", reason="test"
    )
    alpha.send(command("CANCEL_ACTIVITY", "cancel-act", activityId="First"))
    closed = alpha.answer()
    assert closed["reason"] == "JOB_CLOSED" and "TERMINATED" in closed["details"]


def test_cancel_of_a_closed_job_is_rejected(stack: DaemonSet, emulator: EmulatorProcess) -> None:
    alpha = queues_of(emulator, CLIENT_A)
    alpha.send(start_job("done-1", CLIENT_A))
    alpha.answer()
    emulator.client("swf").terminate_workflow_execution(
        domain="cpe-test", workflowId="alpha.done-1", reason="test"
    )
    alpha.send(command("CANCEL_JOB", "done-1"))
    refused = alpha.answer()
    assert refused["reason"] == "JOB_CLOSED" and "TERMINATED" in refused["details"]
    alpha.send(command("GET_JOB_LIST", None, status="closed"))
    closed = alpha.answer()["data"]["jobs"]
    assert [(j["jobId"], j["status"]) for j in closed] == [("done-1", "TERMINATED")]


def test_recovers_when_the_emulator_restarts(stack: DaemonSet, emulator: EmulatorProcess) -> None:
    alpha = queues_of(emulator, CLIENT_A)
    alpha.send(start_job("before", CLIENT_A))
    alpha.answer()
    emulator.restart()  # TERM (state saved) and start again on the same port
    alpha.send(start_job("after", CLIENT_A))
    answer = alpha.answer(timeout=90)
    assert answer["type"] == "WORKFLOW_SCHEDULED" and answer["workflowId"] == "alpha.after"
    alpha.send(start_job("before", CLIENT_A))
    assert alpha.answer()["workflowId"] == "alpha.before"
    assert stack.alive("input-poller")


def test_first_term_exits_zero(tmp_path: Path, emulator: EmulatorProcess) -> None:
    with DaemonSet(make_config(tmp_path, emulator)) as daemons:
        daemons.start("input-poller")
        alpha: Queues = queues_of(emulator, CLIENT_A)
        alpha.send(start_job("term-1", CLIENT_A))
        alpha.answer()
        daemons.signal("input-poller", signal.SIGTERM)
        process = daemons.processes["input-poller"]
        eventually(lambda: process.poll() is not None, what="input poller exit")
        assert process.returncode == 0, daemons.logs()


def test_client_option_serves_only_the_named_client(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    """`--client alpha` serves alpha alone (beta's queues are not even created); a second
    poller with `--client beta` serves beta, side by side."""
    config = make_config(tmp_path, emulator, (CLIENT_A, CLIENT_B))
    with DaemonSet(config) as daemons:
        daemons.start("input-poller", "--client", "alpha", name="alpha-poller")
        alpha = queues_of(emulator, CLIENT_A)
        alpha.send(start_job("for-alpha", CLIENT_A))
        assert alpha.answer()["workflowId"] == "alpha.for-alpha"
        sqs = emulator.client("sqs")
        assert not any("beta" in url for url in sqs.list_queues().get("QueueUrls", []))
        daemons.start("input-poller", "--client", "beta", name="beta-poller")
        beta = queues_of(emulator, CLIENT_B)
        beta.send(start_job("for-beta", CLIENT_B))
        assert beta.answer()["workflowId"] == "beta.for-beta"
        alpha.nothing_more(seconds=1)
