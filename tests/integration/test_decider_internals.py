"""The decider's parts that a whole-stack test cannot steer: its run cache, a decision task
delivered twice, and a bug while deciding. The Decider runs in-process here, but against the
emulator process through the real gateways."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cpe import aws, decider, decider_cache
from cpe.config import load_settings
from cpe.plan import load_plans
from cpe.sqs import SqsGateway
from cpe.swf import DecisionTask, SwfGateway
from tests.support.emulator import EmulatorProcess
from tests.support.stack import write_config

PLAN = Path(__file__).parent / "plans" / "decider_chain.yaml"


def started(event_id: int) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "eventType": "WorkflowExecutionStarted",
        "workflowExecutionStartedEventAttributes": {
            "input": "{}",
            "workflowType": {"name": "W", "version": "1"},
        },
    }


def other(event_id: int, kind: str = "DecisionTaskScheduled") -> dict[str, Any]:
    return {"eventId": event_id, "eventType": kind}


def scheduled(event_id: int, activity_id: str) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "eventType": "ActivityTaskScheduled",
        "activityTaskScheduledEventAttributes": {
            "activityId": activity_id,
            "activityType": {"name": "A", "version": "1"},
        },
    }


def no_history() -> list[dict[str, Any]]:
    raise AssertionError("the full history should not be read")


# --- the run cache (pure) ---------------------------------------------------------------


def test_first_task_needs_no_extra_read_and_later_slices_fold_on_top() -> None:
    run, refolded = decider_cache.advance(None, [started(1), other(2)], no_history)
    assert (refolded, run.last_event_id) == (False, 2)

    # an incremental slice overlapping what is cached: only the new events count
    run, refolded = decider_cache.advance(run, [other(2), scheduled(3, "A")], no_history)
    assert (refolded, run.last_event_id, run.scheduled) == (False, 3, {3: ("A", ("A", "1"))})
    assert run.state.last_event_id == 3


def test_a_gap_or_a_miss_reads_the_full_history() -> None:
    full = [started(1), other(2), scheduled(3, "A"), other(4), other(5)]
    run, refolded = decider_cache.advance(None, full[3:], lambda: full)
    assert (refolded, run.last_event_id, run.scheduled) == (True, 5, {3: ("A", ("A", "1"))})

    early, _ = decider_cache.advance(None, full[:2], no_history)
    run, refolded = decider_cache.advance(early, full[4:], lambda: full)
    assert (refolded, run.last_event_id) == (True, 5)


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = decider_cache.RunCache(capacity=2)
    runs = {name: decider_cache.advance(None, [started(1)], no_history)[0] for name in "abc"}
    cache.put("a", runs["a"])
    cache.put("b", runs["b"])
    assert cache.get("a") is runs["a"]  # a is now the most recent
    cache.put("c", runs["c"])
    assert (cache.get("b"), len(cache)) == (None, 2)
    cache.evict("a")
    assert cache.get("a") is None


# --- in-process decider on the emulator -------------------------------------------------


@pytest.fixture
def make_decider(
    emulator: EmulatorProcess, aws_env: Callable[[str], Any], tmp_path: Path
) -> Callable[[], decider.Decider]:
    config = write_config(tmp_path, emulator.endpoint_url, plans=[PLAN])

    def make() -> decider.Decider:
        settings = load_settings(config)
        swf = SwfGateway(aws.swf_client(settings.aws), settings.domain)
        sqs = SqsGateway(aws.sqs_client(settings.aws))
        built = decider.Decider(settings, load_plans(settings.plans), swf, sqs, "test-decider")
        built.register()
        return built

    return make


def start_job(the_decider: decider.Decider, job_id: str) -> None:
    the_decider.swf.start_workflow(
        f"test.{job_id}",
        ("DeciderChain", "1"),
        task_list="cpe-decisions",
        input=json.dumps({"first": {"sleep": 60}}),
        tags=["client:test"],
    )


def poll(the_decider: decider.Decider) -> DecisionTask:
    for _ in range(10):
        task = the_decider.swf.poll_decision("cpe-decisions", "test", incremental=True)
        if task is not None:
            return task
    raise AssertionError("no decision task")


def client_events(emulator: EmulatorProcess) -> list[dict[str, Any]]:
    sqs = emulator.client("sqs")
    url = sqs.get_queue_url(QueueName="test-output")["QueueUrl"]
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        found += [json.loads(m["Body"]) for m in messages]
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def history(the_decider: decider.Decider, task: DecisionTask) -> list[dict[str, Any]]:
    return list(the_decider.swf.history(task.workflow))


def test_a_task_handled_twice_schedules_and_announces_once(
    make_decider: Callable[[], decider.Decider], emulator: EmulatorProcess
) -> None:
    first = make_decider()
    start_job(first, "twice")
    task = poll(first)
    first.handle(task)
    first.outbox.flush()
    make_decider().handle(task)  # the same task again, to another (fresh) decider
    first.handle(task)  # and to the same one

    kinds = [e["eventType"] for e in history(first, task)]
    assert kinds.count("ActivityTaskScheduled") == 1
    announced = [e["type"] for e in client_events(emulator)]
    assert announced == ["ACTIVITY_SCHEDULED"]


def test_a_bug_while_deciding_fails_that_workflow_with_the_ids_logged(
    make_decider: Callable[[], decider.Decider],
    emulator: EmulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(plan: Any, state: Any) -> list[dict[str, Any]]:
        raise ZeroDivisionError("a bug in the plan engine")

    monkeypatch.setattr(decider, "decide", broken)
    the_decider = make_decider()
    start_job(the_decider, "buggy")
    task = poll(the_decider)
    the_decider.handle(task)
    the_decider.outbox.flush()

    last = history(the_decider, task)[-1]
    assert last["eventType"] == "WorkflowExecutionFailed"
    reason = last["workflowExecutionFailedEventAttributes"]["reason"]
    assert reason.startswith("DECIDER_ERROR: ZeroDivisionError: a bug in the plan engine")
    (failed,) = client_events(emulator)
    assert failed["type"] == "WORKFLOW_FAILED"
    assert "ZeroDivisionError" in failed["data"]["details"]
    assert "jobId=buggy" in caplog.text and task.workflow.run_id in caplog.text
    assert len(the_decider.cache) == 0


def test_decisions_swf_rejects_fail_the_workflow_instead_of_looping(
    make_decider: Callable[[], decider.Decider],
    emulator: EmulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def malformed(plan: Any, state: Any) -> list[dict[str, Any]]:
        attributes = {"activityId": "no-type"}  # activityType is required
        return [
            {
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": attributes,
            }
        ]

    monkeypatch.setattr(decider, "decide", malformed)
    the_decider = make_decider()
    start_job(the_decider, "malformed")
    task = poll(the_decider)
    the_decider.handle(task)
    the_decider.outbox.flush()

    last = history(the_decider, task)[-1]
    assert last["eventType"] == "WorkflowExecutionFailed"
    reason = last["workflowExecutionFailedEventAttributes"]["reason"]
    assert reason.startswith("DECIDER_ERROR: SWF rejected the decisions")
    assert [e["type"] for e in client_events(emulator)] == ["WORKFLOW_FAILED"]
