"""Table-driven decide tests: a plan + a history -> the expected decisions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cpe.decide import decide, describe_decision, parse_activity_id
from cpe.plan import Plan, parse_plan
from cpe.state import Control, fold
from tests.support.history import History

HEADER = """
name: P
version: "1"
activities:
  - {name: A, version: "1"}
  - {name: Meta, version: "2", outputs_spec: {metadata: "$.meta", size: "$.meta.size"}}
"""


def plan_of(steps: str, extra: str = "") -> Plan:
    return parse_plan(HEADER + extra + "steps:\n" + steps, "test.yaml")


def summary(decisions: list[dict[str, Any]]) -> list[str]:
    """One short line per decision: the type and the id it acts on."""
    lines = []
    for decision in decisions:
        kind = decision["decisionType"]
        attributes = decision[kind[:1].lower() + kind[1:] + "DecisionAttributes"]
        ident = attributes.get("activityId") or attributes.get("timerId") or ""
        if kind == "RecordMarker":
            ident = "{step}={status}".format(**json.loads(attributes["details"]))
        lines.append(f"{kind} {ident}".strip())
    return lines


def attributes(decision: dict[str, Any]) -> dict[str, Any]:
    kind = decision["decisionType"]
    result: dict[str, Any] = decision[kind[:1].lower() + kind[1:] + "DecisionAttributes"]
    return result


def step_through(plan: Plan, history: History) -> list[dict[str, Any]]:
    decisions = decide(plan, fold(history.events))
    history.apply(decisions)
    return decisions


SEQUENTIAL = "  - {name: S2, activity: A, requires: [S1]}\n  - {name: S1, activity: A}\n"
PARALLEL = "  - {name: S1, activity: A}\n  - {name: S2, activity: A}\n"
BRANCHES = (
    "  - {name: S1, activity: A}\n"
    "  - {name: OnOk, activity: A, requires: [S1]}\n"
    "  - {name: OnFail, activity: A, requires: [[S1, failed]]}\n"
    "  - {name: Always, activity: A, requires: [[S1, completed]]}\n"
    "  - {name: AfterOk, activity: A, requires: [OnOk]}\n"
)


def test_empty_plan_completes_at_once() -> None:
    history = History()
    history.started({})
    decisions = decide(plan_of("  []\n"), fold(history.events))
    assert summary(decisions) == ["CompleteWorkflowExecution"]
    assert attributes(decisions[0])["result"] == "{}"


def test_sequential_original_example() -> None:
    plan, history = plan_of(SEQUENTIAL), History()
    history.started({"x": 1})
    assert summary(step_through(plan, history)) == ["ScheduleActivityTask S1"]
    assert decide(plan, fold(history.events)) == []  # S1 still open: nothing to do
    history.activity_started("S1")
    history.activity_completed("S1", {"done": 1})
    assert summary(step_through(plan, history)) == ["ScheduleActivityTask S2"]
    history.activity_completed("S2", "two")
    decisions = step_through(plan, history)
    assert summary(decisions) == ["CompleteWorkflowExecution"]
    assert json.loads(attributes(decisions[0])["result"]) == {"S2": "two"}


def test_parallel_steps_are_scheduled_in_one_decision() -> None:
    plan, history = plan_of(PARALLEL), History()
    history.started({})
    assert summary(step_through(plan, history)) == [
        "ScheduleActivityTask S1",
        "ScheduleActivityTask S2",
    ]


def test_schedule_attributes_and_control() -> None:
    plan, history = plan_of(PARALLEL), History()
    history.started({"in": True})
    first = attributes(decide(plan, fold(history.events))[0])
    assert first == {
        "activityType": {"name": "A", "version": "1"},
        "activityId": "S1",
        "control": json.dumps(
            {"attempt": 1, "item": None, "kind": "activity", "step": "S1"}, sort_keys=True
        ),
        "input": '{"in": true}',
        "taskList": {"name": "A-1"},
        "heartbeatTimeout": "NONE",
        "scheduleToCloseTimeout": "NONE",
        "scheduleToStartTimeout": "NONE",
        "startToCloseTimeout": "86400",
    }


@pytest.mark.parametrize(
    ("s1_event", "expected"),
    [
        (
            "completed",
            [
                "ScheduleActivityTask OnOk",
                "ScheduleActivityTask Always",
                "RecordMarker OnFail=skipped",
            ],
        ),
        (
            "failed",
            [
                "ScheduleActivityTask Always",
                "RecordMarker OnOk=skipped",
                "RecordMarker AfterOk=skipped",
                "ScheduleActivityTask OnFail",
            ],
        ),
    ],
)
def test_requires_with_status(s1_event: str, expected: list[str]) -> None:
    plan, history = plan_of(BRANCHES), History()
    history.started({})
    step_through(plan, history)
    if s1_event == "completed":
        history.activity_completed("S1", 1)
    else:
        history.activity_failed("S1")
    assert sorted(summary(step_through(plan, history))) == sorted(expected)


def test_handled_failure_lets_the_workflow_complete() -> None:
    plan, history = plan_of(BRANCHES), History()
    history.started({})
    step_through(plan, history)
    history.activity_failed("S1")
    step_through(plan, history)
    history.activity_completed("Always", "a")
    history.activity_completed("OnFail", "f")
    decisions = step_through(plan, history)
    assert summary(decisions) == ["CompleteWorkflowExecution"]
    assert json.loads(attributes(decisions[0])["result"]) == {"OnFail": "f", "Always": "a"}
    state = fold(history.events)
    assert state.steps["OnOk"].status == "skipped"
    assert state.steps["S1"].status == "failed"
    assert state.closed


def test_templated_input_from_job_input_and_outputs_spec() -> None:
    steps = (
        "  - {name: Validate, activity: Meta}\n"
        "  - name: Transcode\n"
        "    activity: A\n"
        "    requires: [[Validate, succeeded]]\n"
        "    input: |\n"
        '      {"client": {{__input__.client}}, "meta": {{Validate.metadata}},\n'
        '       "size": {{ Validate.size }}, "name": {{ __input__.client.name ~ "-x" }}}\n'
    )
    plan, history = plan_of(steps), History()
    history.started({"client": {"name": "demo"}})
    step_through(plan, history)
    history.activity_completed("Validate", {"meta": {"size": 7, "codec": "h264"}})
    decisions = step_through(plan, history)
    assert json.loads(attributes(decisions[0])["input"]) == {
        "client": {"name": "demo"},
        "meta": {"size": 7, "codec": "h264"},
        "size": 7,
        "name": "demo-x",
    }


def test_unhandled_failure_fails_the_workflow_naming_the_step() -> None:
    plan, history = plan_of(SEQUENTIAL), History()
    history.started({})
    step_through(plan, history)
    history.activity_failed("S1", reason="Disk full " * 50, details="d" * 40_000)
    decisions = decide(plan, fold(history.events))
    assert summary(decisions) == ["FailWorkflowExecution"]
    fail = attributes(decisions[0])
    assert fail["reason"].startswith("step S1 failed: Disk full")
    assert len(fail["reason"]) <= 256
    assert len(fail["details"]) <= 32_768
    assert '"step": "S1"' in fail["details"]


def test_template_error_fails_the_step_with_line_and_reason() -> None:
    steps = '  - name: S1\n    activity: A\n    input: |\n      {"a": 1,\n       "b": {{ __input__.missing }}}\n'
    plan, history = plan_of(steps), History()
    history.started({"present": 1})
    fail = attributes(decide(plan, fold(history.events))[0])
    assert fail["reason"] == (
        "step S1 failed: template failed at line 2: 'dict object' has no attribute 'missing'"
    )


def test_template_error_on_handled_step_records_a_marker() -> None:
    steps = "  - {name: S1, activity: A, input: '{{ __input__.nope }}'}\n  - {name: H, activity: A, requires: [[S1, failed]]}\n"
    plan, history = plan_of(steps), History()
    history.started({})
    assert summary(step_through(plan, history)) == [
        "ScheduleActivityTask H",
        "RecordMarker S1=failed",
    ]
    assert fold(history.events).steps["S1"].reason.startswith("template failed at line 1")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "the job input is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (
            '{"n": "x"}',
            "the job input does not match the plan's input_spec: n: 'x' is not of type 'integer'",
        ),
    ],
)
def test_bad_job_input_fails_the_workflow(raw: str, reason: str) -> None:
    plan = plan_of(PARALLEL, "input_spec: {type: object, properties: {n: {type: integer}}}\n")
    history = History()
    history.started(raw=raw)
    assert attributes(decide(plan, fold(history.events))[0])["reason"] == reason


RETRY = "  - name: S1\n    activity: A\n    retry: {{max_attempts: 3, interval: {interval}, backoff_rate: 3{on}}}\n"


def test_retry_immediately_with_a_new_activity_id() -> None:
    plan, history = plan_of(RETRY.format(interval=0, on="")), History()
    history.started({})
    step_through(plan, history)
    history.activity_timed_out("S1")
    assert summary(step_through(plan, history)) == ["ScheduleActivityTask S1#2"]
    history.activity_failed("S1#2")
    assert summary(step_through(plan, history)) == ["ScheduleActivityTask S1#3"]
    history.activity_failed("S1#3", reason="Third")
    assert attributes(decide(plan, fold(history.events))[0])["reason"] == "step S1 failed: Third"


def test_retry_after_backoff_timers() -> None:
    plan, history = plan_of(RETRY.format(interval=10, on="")), History()
    history.started({})
    step_through(plan, history)
    history.activity_failed("S1")
    decisions = step_through(plan, history)
    assert summary(decisions) == ["StartTimer retry-S1#2"]
    assert attributes(decisions[0])["startToFireTimeout"] == "10"
    assert fold(history.events).steps["S1"].status == "retry-waiting"
    assert decide(plan, fold(history.events)) == []
    history.timer_fired("retry-S1#2")
    assert summary(step_through(plan, history)) == ["ScheduleActivityTask S1#2"]
    history.activity_failed("S1#2")
    assert attributes(step_through(plan, history)[0])["startToFireTimeout"] == "30"


def test_retry_only_on_listed_reasons() -> None:
    plan = plan_of(RETRY.format(interval=0, on=", on: [ActivityTaskTimedOut]"))
    history = History()
    history.started({})
    step_through(plan, history)
    history.activity_timed_out("S1", "HEARTBEAT")
    assert summary(step_through(plan, history)) == ["ScheduleActivityTask S1#2"]
    history.activity_failed("S1#2", reason="Fatal")
    assert summary(decide(plan, fold(history.events))) == ["FailWorkflowExecution"]


def test_schedule_failure_fails_the_step_with_the_cause() -> None:
    plan, history = plan_of(SEQUENTIAL), History()
    history.started({})
    history.decision_completed()
    history.schedule_failed("S1", "ACTIVITY_TYPE_DEPRECATED")
    fail = attributes(decide(plan, fold(history.events))[0])
    assert fail["reason"] == "step S1 failed: ScheduleActivityTaskFailed: ACTIVITY_TYPE_DEPRECATED"


def test_closed_or_unstarted_history_yields_nothing() -> None:
    plan, history = plan_of(PARALLEL), History()
    assert decide(plan, fold(history.events)) == []
    history.started({})
    history.completed()
    assert decide(plan, fold(history.events)) == []


def test_cancel_waits_for_open_activities_then_cancels() -> None:
    steps = PARALLEL + "  - name: R\n    activity: A\n    retry: {max_attempts: 2, interval: 60}\n"
    plan, history = plan_of(steps), History()
    history.started({})
    step_through(plan, history)
    history.activity_completed("S1", 1)
    history.activity_failed("R")
    step_through(plan, history)  # R waits on a retry timer, S2 runs
    history.cancel_requested()
    assert summary(step_through(plan, history)) == [
        "RequestCancelActivityTask S2",
        "CancelTimer retry-R#2",
    ]
    assert decide(plan, fold(history.events)) == []  # cancel already requested
    history.activity_canceled("S2")
    assert summary(decide(plan, fold(history.events))) == ["CancelWorkflowExecution"]


FOR_EACH = (
    "  - {name: List, activity: A}\n"
    "  - name: Each\n"
    "    activity: Meta\n"
    "    requires: [List]\n"
    "    for_each: {items: '{{ List.files }}', max_concurrency: 2}\n"
    '    input: \'{"file": {{ __item__ }}, "index": {{ __index__ }}}\'\n'
    "  - {name: Sum, activity: A, requires: [Each], input: '{{ Each }}'}\n"
)


def test_for_each_fans_out_with_max_concurrency_and_collects_in_order() -> None:
    plan, history = plan_of(FOR_EACH), History()
    history.started({})
    step_through(plan, history)
    history.activity_completed("List", {"files": ["a", "b", "c"]})
    decisions = step_through(plan, history)
    assert summary(decisions) == ["ScheduleActivityTask Each[0]", "ScheduleActivityTask Each[1]"]
    assert json.loads(attributes(decisions[1])["input"]) == {"file": "b", "index": 1}
    history.activity_completed("Each[1]", {"meta": {"n": "B", "size": 1}})
    assert summary(step_through(plan, history)) == ["ScheduleActivityTask Each[2]"]
    history.activity_completed("Each[2]", {"meta": {"n": "C", "size": 1}})
    history.activity_completed("Each[0]", {"meta": {"n": "A", "size": 1}})
    decisions = step_through(plan, history)
    assert summary(decisions) == ["ScheduleActivityTask Sum", "RecordMarker Each=succeeded"]
    sum_input = json.loads(attributes(decisions[0])["input"])
    assert [item["metadata"]["n"] for item in sum_input] == ["A", "B", "C"]


def test_for_each_over_empty_list_succeeds_at_once() -> None:
    plan, history = plan_of(FOR_EACH), History()
    history.started({})
    step_through(plan, history)
    history.activity_completed("List", {"files": []})
    assert summary(step_through(plan, history)) == [
        "ScheduleActivityTask Sum",
        "RecordMarker Each=succeeded",
    ]


def test_over_100_ready_steps_continue_through_a_zero_timer() -> None:
    steps = "".join(f"  - {{name: S{i}, activity: A}}\n" for i in range(150))
    plan, history = plan_of(steps), History()
    history.started({})
    first = step_through(plan, history)
    assert len(first) == 100
    assert summary(first)[-1] == f"StartTimer continue-{history.events[0]['eventId']}"
    assert attributes(first[-1])["startToFireTimeout"] == "0"
    history.timer_fired(attributes(first[-1])["timerId"])
    second = step_through(plan, history)
    assert summary(second) == [f"ScheduleActivityTask S{i}" for i in range(99, 150)]


def test_plan_output_template_is_the_result() -> None:
    plan = plan_of(SEQUENTIAL, 'output: \'{"first": {{ S1 }}, "job": {{ __input__ }}}\'\n')
    history = History()
    history.started({"j": 1})
    step_through(plan, history)
    history.activity_completed("S1", [1, 2])
    step_through(plan, history)
    history.activity_completed("S2", None)
    result = attributes(step_through(plan, history)[0])["result"]
    assert json.loads(result) == {"first": [1, 2], "job": {"j": 1}}


def test_oversized_result_fails_the_workflow() -> None:
    plan, history = plan_of("  - {name: S1, activity: A}\n"), History()
    history.started({})
    step_through(plan, history)
    history.activity_completed("S1", "x" * 40_000)
    fail = attributes(decide(plan, fold(history.events))[0])
    assert fail["reason"].startswith("the workflow result is 40010 characters")


def test_fold_pages_and_incremental_slices_agree() -> None:
    plan, history = plan_of(BRANCHES), History()
    history.started({})
    step_through(plan, history)
    history.add("WorkflowExecutionSignaled", signalName="whatever")
    history.add("SomethingNew", anything=1)
    history.activity_failed("S1")
    full = fold(history.events)
    paged = fold(history.events[7:], fold(history.events[:7]))
    overlapping = fold(history.events[3:], fold(history.events[:9]))
    assert full == paged == overlapping
    assert full.to_json()["steps"]["S1"]["status"] == "failed"


def test_activity_id_scheme_round_trips() -> None:
    assert parse_activity_id("Step[3]#2") == Control("activity", "Step", 2, 3)
    assert parse_activity_id("Step") == Control("activity", "Step", 1, None)
    plan, history = plan_of(PARALLEL), History()
    history.started({"a": 1})
    described = describe_decision(decide(plan, fold(history.events))[0])
    assert described == {
        "step": "S1",
        "item": None,
        "attempt": 1,
        "activityId": "S1",
        "activityType": {"name": "A", "version": "1"},
        "input": '{"a": 1}',
    }
