"""The status view: JOB_STATUS / ACTIVITY_STATUS / ACTIVITY_LIST answers from the fold."""

from __future__ import annotations

import json
from typing import Any

from cpe.job_summary import find_activity, summarize
from cpe.state import fold
from tests.support.history import EPOCH, History
from tests.unit.test_decide import BRANCHES, FOR_EACH, plan_of, step_through

T0 = EPOCH.timestamp()
RETRIED = (
    "  - name: R\n    activity: A\n    retry: {max_attempts: 3, interval: 0}\n"
    "  - {name: After, activity: A, requires: [R]}\n"
)


def steps_of(summary: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(s["name"], s["status"], s["attempts"]) for s in summary["steps"]]


def test_steps_never_scheduled_are_pending_in_plan_order() -> None:
    plan, history = plan_of(RETRIED), History()
    history.started({"a": 1}, name="P", version="1")
    summary = summarize(fold(history.events), plan)
    assert summary["status"] == "OPEN" and summary["cancelRequested"] is False
    assert summary["workflowType"] == {"name": "P", "version": "1"}
    assert summary["startTime"] == T0 + 1 and "closeTime" not in summary
    assert summary["steps"] == [
        {"name": "R", "status": "pending", "attempts": 0, "activityIds": []},
        {"name": "After", "status": "pending", "attempts": 0, "activityIds": []},
    ]
    assert summary["activities"] == []


def test_every_attempt_has_a_record_with_times_worker_and_result() -> None:
    plan, history = plan_of(RETRIED), History()
    history.started({})
    step_through(plan, history)
    scheduled_at = T0 + history.scheduled_ids["R"]
    started = history.activity_started("R")
    failed = history.activity_failed("R", "Boom", "it broke")
    step_through(plan, history)
    history.activity_started("R#2")
    summary = summarize(fold(history.events), plan)
    assert steps_of(summary)[0] == ("R", "started", 2)
    assert summary["steps"][0]["activityIds"] == ["R", "R#2"]
    first, second = summary["activities"]
    assert first == {
        "activityId": "R",
        "step": "R",
        "attempt": 1,
        "activityType": {"name": "A", "version": "1"},
        "status": "failed",
        "scheduledAt": scheduled_at,
        "startedAt": T0 + started,
        "closedAt": T0 + failed,
        "worker": "t",
        "result": {"reason": "Boom", "details": "it broke"},
        "cancelRequested": False,
    }
    assert (second["activityId"], second["status"], second["attempt"]) == ("R#2", "started", 2)
    assert find_activity(summary, "R") == first
    assert find_activity(summary, "R#2") == second
    assert find_activity(summary, "After") is None


def test_decider_conclusions_show_skipped_steps_and_the_outcome() -> None:
    plan, history = plan_of(BRANCHES), History()
    history.started({})
    step_through(plan, history)
    history.activity_completed("S1", {"ok": True})
    step_through(plan, history)  # OnOk, Always run; OnFail is skipped by a marker
    history.activity_completed("OnOk", 1)
    history.activity_timed_out("Always")
    assert step_through(plan, history)[-1]["decisionType"] == "FailWorkflowExecution"
    summary = summarize(fold(history.events), plan)
    assert [(name, status) for name, status, _ in steps_of(summary)] == [
        ("S1", "completed"),
        ("OnOk", "completed"),
        ("OnFail", "skipped"),
        ("Always", "timed_out"),
        ("AfterOk", "pending"),  # never scheduled: the workflow failed first
    ]
    assert summary["steps"][2]["reason"] == "requires S1 failed, which succeeded"
    assert summary["status"] == "FAILED"
    assert summary["reason"].startswith("step Always failed: ActivityTaskTimedOut")
    assert json.loads(summary["details"])["step"] == "Always"
    assert summary["closeTime"] == T0 + history.last_id
    always = find_activity(summary, "Always")
    assert always is not None and always["status"] == "timed_out"


def test_for_each_step_lists_its_items_and_a_completed_run_its_result() -> None:
    plan, history = plan_of(FOR_EACH), History()
    history.started({})
    step_through(plan, history)
    history.activity_completed("List", {"files": [{"size": 1}, {"size": 2}]})
    step_through(plan, history)
    history.activity_completed("Each[0]", {"meta": {"size": 1}})
    summary = summarize(fold(history.events), plan)
    each = summary["steps"][1]
    assert (each["name"], each["status"]) == ("Each", "started")
    assert [(i["index"], i["status"]) for i in each["items"]] == [
        (0, "completed"),
        (1, "scheduled"),
    ]
    assert each["activityIds"] == ["Each[0]", "Each[1]"]
    assert [(a["activityId"], a.get("item")) for a in summary["activities"]][1:] == [
        ("Each[0]", 0),
        ("Each[1]", 1),
    ]
    history.activity_completed("Each[1]", {"meta": {"size": 2}})
    step_through(plan, history)
    history.activity_completed("Sum", "done")
    step_through(plan, history)
    summary = summarize(fold(history.events), plan)
    assert summary["status"] == "COMPLETED" and summary["result"] == {"Sum": "done"}


def test_without_a_plan_the_history_alone_names_the_steps() -> None:
    plan, history = plan_of(RETRIED), History()
    history.started({})
    step_through(plan, history)
    history.cancel_activity_signal("R")
    summary = summarize(fold(history.events), None)
    assert summary["steps"] == [
        {
            "name": "R",
            "status": "scheduled",
            "attempts": 1,
            "activityIds": ["R"],
            "cancelRequested": True,
        }
    ]
