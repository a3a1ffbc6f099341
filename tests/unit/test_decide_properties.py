"""Property tests: random valid plans, random activity outcomes and CANCEL_ACTIVITY signals
always end, never schedule a step twice or before its requirements, never ask to cancel an
activity twice, and decide the same from full and incremental folds."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpe.decide import decide, describe_decision
from cpe.plan import Plan, parse_plan
from cpe.state import ExecutionState, fold
from tests.support.history import History

STATUSES = ("succeeded", "failed", "skipped", "completed")
OUTCOME = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed", "skipped": "skipped"}
CLOSING = {"CompleteWorkflowExecution", "FailWorkflowExecution", "CancelWorkflowExecution"}


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    count = draw(st.integers(min_value=0, max_value=7))
    lines = []
    for index in range(count):
        required = (
            draw(st.lists(st.integers(0, index - 1), unique=True, max_size=3)) if index else []
        )
        requires = [f"[S{r}, {draw(st.sampled_from(STATUSES))}]" for r in required]
        attempts = draw(st.integers(min_value=1, max_value=2))
        lines.append(
            f"  - {{name: S{index}, activity: A, requires: [{', '.join(requires)}], "
            f"retry: {{max_attempts: {attempts}, interval: {draw(st.sampled_from([0, 5]))}}}}}"
        )
    text = 'name: P\nversion: "1"\nactivities: [{name: A, version: "1"}]\nsteps:\n'
    return parse_plan(text + ("\n".join(lines) if lines else "  []") + "\n", "random.yaml")


def _check_requirements(plan: Plan, state: ExecutionState, decisions: list[dict[str, Any]]) -> None:
    for decision in decisions:
        described = describe_decision(decision)
        if described is None:
            continue
        for requirement in plan.step_by_name[described["step"]].requires:
            outcome = OUTCOME.get(state.step(requirement.step).status)
            assert outcome is not None and requirement.accepts(outcome), (described, requirement)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans(), data=st.data())
def test_random_runs_end_and_replays_agree(plan: Plan, data: st.DataObject) -> None:
    history = History()
    history.started({"job": 1})
    incremental = fold(history.events)
    scheduled: set[str] = set()
    cancels_asked: set[str] = set()
    open_ids: list[str] = []
    canceled = False
    for _ in range(200):
        full = fold(history.events)
        incremental = fold(history.since(incremental.last_event_id), incremental)
        decisions = decide(plan, full)
        assert decide(plan, incremental) == decisions
        history.apply(decisions)
        _check_requirements(plan, fold(history.events), decisions)
        for decision in decisions:
            described = describe_decision(decision)
            if described is not None:
                assert described["activityId"] not in scheduled
                scheduled.add(described["activityId"])
                open_ids.append(described["activityId"])
            if decision["decisionType"] == "RequestCancelActivityTask":
                asked = decision["requestCancelActivityTaskDecisionAttributes"]["activityId"]
                assert asked not in cancels_asked, asked  # each attempt is asked once
                cancels_asked.add(asked)
        if any(d["decisionType"] in CLOSING for d in decisions):
            return
        if not canceled and data.draw(st.integers(0, 9)) == 9:  # hypothesis favours 0
            history.cancel_requested()
            canceled = True
        if data.draw(st.booleans()):  # a client's CANCEL_ACTIVITY, maybe a stale id
            history.cancel_activity_signal(data.draw(st.sampled_from([*open_ids, "S0", "S9"])))
        if open_ids:
            activity = open_ids.pop(data.draw(st.integers(0, len(open_ids) - 1)))
            outcome = data.draw(st.sampled_from(["completed", "failed", "timed_out", "canceled"]))
            getattr(history, f"activity_{outcome}")(activity)
        else:
            for timer_id in list(history.started_timers):
                history.timer_fired(timer_id)
    raise AssertionError("the workflow did not end within 200 decisions")
