"""CANCEL_ACTIVITY in the plan engine: the ``cpe.cancel_activity`` signal is folded into a
per-attempt cancel request, ``decide`` asks SWF to cancel that attempt exactly once, and the
canceled step then counts as failed (failure branches fire; unhandled, the workflow fails)."""

from __future__ import annotations

import json

from cpe.decide import decide
from cpe.state import fold
from tests.support.history import History
from tests.unit.test_decide import BRANCHES, PARALLEL, attributes, plan_of, step_through, summary

RETRIED = "  - name: R\n    activity: A\n    retry: {max_attempts: 3, interval: 0}\n"
FOR_EACH = "  - name: Each\n    activity: A\n    for_each: {items: '[1, 2]'}\n    input: '{{ __item__ }}'\n"


def test_signal_asks_swf_to_cancel_once_then_an_unhandled_cancel_fails_the_workflow() -> None:
    plan, history = plan_of(PARALLEL), History()
    history.started({})
    step_through(plan, history)
    history.activity_started("S1")
    history.cancel_activity_signal("S1")
    assert fold(history.events).step("S1").cancel_signaled
    assert summary(step_through(plan, history)) == ["RequestCancelActivityTask S1"]
    assert decide(plan, fold(history.events)) == []  # asked already: never twice
    history.activity_canceled("S1")
    history.activity_completed("S2", {})
    fail = attributes(decide(plan, fold(history.events))[0])
    assert fail["reason"] == "step S1 failed: ActivityTaskCanceled"
    assert json.loads(fail["details"])["step"] == "S1"


def test_canceled_step_fires_the_failure_branches_and_is_not_retried() -> None:
    retried = "{name: S1, activity: A, retry: {max_attempts: 3}}"
    plan, history = plan_of(BRANCHES.replace("{name: S1, activity: A}", retried)), History()
    history.started({})
    step_through(plan, history)
    history.cancel_activity_signal("S1")
    step_through(plan, history)
    history.activity_canceled("S1")
    assert summary(step_through(plan, history)) == [
        "ScheduleActivityTask OnFail",
        "ScheduleActivityTask Always",
        "RecordMarker OnOk=skipped",
        "RecordMarker AfterOk=skipped",
    ]
    assert fold(history.events).step("S1").attempts == 1


def test_unknown_closed_and_foreign_signals_are_ignored() -> None:
    plan, history = plan_of(PARALLEL), History()
    history.started({})
    step_through(plan, history)
    history.activity_completed("S1", {})
    history.cancel_activity_signal("S1")  # closed
    history.cancel_activity_signal("Nope")  # never scheduled
    history.cancel_activity_signal("S2#2")  # not the open attempt
    history.cancel_activity_signal("[bad")  # not an activityId of ours
    history.signaled("cpe.cancel_activity", "not json")
    history.signaled("cpe.cancel_activity", json.dumps({"activityId": 5}))
    history.signaled("somebody.else", json.dumps({"activityId": "S2"}))
    state = fold(history.events)
    assert not any(step.cancel_signaled for step in state.steps.values())
    assert summary(decide(plan, state)) == []


def test_a_signal_for_an_earlier_attempt_does_not_cancel_the_retry() -> None:
    plan, history = plan_of(RETRIED), History()
    history.started({})
    step_through(plan, history)
    history.activity_failed("R")
    assert summary(step_through(plan, history)) == ["ScheduleActivityTask R#2"]
    history.cancel_activity_signal("R")
    assert summary(decide(plan, fold(history.events))) == []
    state = fold(history.events)
    latest = state.open_attempt("R")  # a step name means its latest attempt
    assert latest is not None and latest.activity_id == "R#2"
    assert state.open_attempt("R#2") is not None
    assert state.open_attempt("R#3") is None and state.open_attempt("Q") is None


def test_a_new_attempt_starts_without_the_previous_cancel_flags() -> None:
    plan, history = plan_of(RETRIED), History()
    history.started({})
    step_through(plan, history)
    history.cancel_activity_signal("R")
    step_through(plan, history)
    history.activity_failed("R")  # the worker failed before it saw the cancel
    assert summary(step_through(plan, history)) == ["ScheduleActivityTask R#2"]
    state = fold(history.events)
    assert not state.step("R").cancel_signaled and not state.step("R").cancel_requested


def test_for_each_items_are_cancelled_one_by_one() -> None:
    plan, history = plan_of(FOR_EACH), History()
    history.started({})
    assert summary(step_through(plan, history)) == [
        "ScheduleActivityTask Each[0]",
        "ScheduleActivityTask Each[1]",
    ]
    state = fold(history.events)
    assert state.open_attempt("Each") is None  # ambiguous: name an item
    assert state.open_attempt("Each[1]") is not None
    history.cancel_activity_signal("Each[1]")
    assert summary(step_through(plan, history)) == ["RequestCancelActivityTask Each[1]"]
    history.activity_canceled("Each[1]")
    history.activity_completed("Each[0]", 1)
    fail = attributes(decide(plan, fold(history.events))[0])
    assert fail["reason"] == "step Each failed: item 1 failed: ActivityTaskCanceled"


def test_full_and_incremental_folds_decide_the_same_around_a_signal() -> None:
    plan, history = plan_of(PARALLEL), History()
    history.started({})
    step_through(plan, history)
    before = fold(history.events)
    history.cancel_activity_signal("S2")
    incremental = fold(history.since(before.last_event_id), before)
    assert incremental == fold(history.events)
    assert decide(plan, incremental) == decide(plan, fold(history.events))
