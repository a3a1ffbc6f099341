"""``decide(plan, state) -> decisions``: the decider's brain — pure, deterministic, no I/O.

Public API:

- ``decide(plan, state) -> list[dict]``: SWF decisions exactly as RespondDecisionTaskCompleted
  takes them (``{"decisionType": "ScheduleActivityTask",
  "scheduleActivityTaskDecisionAttributes": {...}}``).
- ``step_outputs(plan, state, step) -> Any``: a succeeded step's outputs (``outputs_spec``
  applied to its result); raises :class:`cpe.templates.TemplateFailure`.
- ``describe_decision(decision) -> dict | None``: step, item, attempt, activityId,
  activityType and input of a ScheduleActivityTask decision (for ACTIVITY_SCHEDULED /
  ACTIVITY_RETRYING messages).
- Re-exported from :mod:`cpe.state`: ``parse_activity_id``, ``decode_control``, ``Control``.

One call walks the steps in dependency order and, for each, works out whether it is finished
(succeeded, failed, skipped), still busy, or ready; ready steps are scheduled together (fan-out).
Everything is re-derived from the state each time, so a lost decision task loses nothing. The
decider's own conclusions (a step skipped, an input that cannot be built, a for_each step's
end) are also recorded as ``cpe.step`` markers so that the history alone tells each status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cpe import templates
from cpe.plan import Plan, Step, schema_errors
from cpe.state import (
    CANCELED,
    CONTINUE_TIMER_PREFIX,
    FAILED,
    KIND_ACTIVITY,
    KIND_CONTINUE,
    KIND_RETRY,
    MARKER_NAME,
    NEW_STEP,
    OPEN_STATUSES,
    PENDING,
    RETRY_WAITING,
    SKIPPED,
    SUCCEEDED,
    Control,
    ExecutionState,
    StepState,
    activity_id,
    decode_control,
    encode_control,
    parse_activity_id,
    retry_timer_id,
)
from cpe.templates import TemplateFailure

__all__ = [
    "Control",
    "decide",
    "decode_control",
    "describe_decision",
    "parse_activity_id",
    "step_outputs",
]

MAX_DECISIONS = 100
MAX_OPEN_ACTIVITIES = 1000
MAX_REASON = 256
MAX_PAYLOAD = 32_768  # input, result and details

Decision = dict[str, Any]


# ----------------------------------------------------------------------------- decisions


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _decision(kind: str, **attributes: Any) -> Decision:
    key = kind[:1].lower() + kind[1:] + "DecisionAttributes"
    return {"decisionType": kind, key: attributes}


def _fail_workflow(reason: str, details: str) -> Decision:
    return _decision(
        "FailWorkflowExecution",
        reason=_truncate(reason, MAX_REASON),
        details=_truncate(details, MAX_PAYLOAD),
    )


def _marker(step: str, status: str, reason: str | None, details: str | None) -> Decision:
    record = {"step": step, "status": status, "reason": reason, "details": details}
    text = json.dumps(record, sort_keys=True)
    if len(text) > MAX_PAYLOAD:
        record["details"] = _truncate(details or "", MAX_PAYLOAD // 2)
        text = json.dumps(record, sort_keys=True)
    return _decision("RecordMarker", markerName=MARKER_NAME, details=text)


def _timer(timer_id: str, seconds: int, control: Control) -> Decision:
    return _decision(
        "StartTimer",
        timerId=timer_id,
        startToFireTimeout=str(seconds),
        control=encode_control(control),
    )


def describe_decision(decision: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a ScheduleActivityTask decision runs (None for any other decision)."""
    if decision.get("decisionType") != "ScheduleActivityTask":
        return None
    attributes = decision["scheduleActivityTaskDecisionAttributes"]
    control = decode_control(attributes.get("control")) or parse_activity_id(
        attributes["activityId"]
    )
    return {
        "step": control.step if control else None,
        "item": control.item if control else None,
        "attempt": control.attempt if control else 1,
        "activityId": attributes["activityId"],
        "activityType": dict(attributes["activityType"]),
        "input": attributes.get("input"),
    }


# ----------------------------------------------------------------------------- outputs


def _item_outputs(plan: Plan, step: Step, state: StepState) -> Any:
    spec = plan.activity_of(step).outputs_spec
    key = tuple(spec.items()) if spec else None
    if key not in state.memo:  # states are immutable and shared, so this is computed once
        state.memo[key] = templates.evaluate_outputs(spec, state.output)
    return state.memo[key]


def step_outputs(plan: Plan, state: ExecutionState, name: str) -> Any:
    """A succeeded step's outputs; for a for_each step, the list of its items' outputs."""
    step = plan.step_by_name[name]
    step_state = state.step(name)
    if step.for_each is None:
        return _item_outputs(plan, step, step_state)
    items = step_state.items
    return [_item_outputs(plan, step, items[index]) for index in sorted(items)]


# ----------------------------------------------------------------------------- one pass


@dataclass(frozen=True)
class _Failure:
    step: str
    reason: str
    details: str | None


class _Pass:
    """One decision: walks the steps in dependency order, collecting what to do."""

    def __init__(self, plan: Plan, state: ExecutionState) -> None:
        self.plan = plan
        self.state = state
        self.outcome: dict[str, str] = {}  # step -> succeeded | failed | skipped, once final
        self.busy = False  # something is running, waiting to retry, or not yet schedulable
        self.actions: list[Decision] = []
        self.markers: list[Decision] = []
        self.actions += _requested_cancels(state)
        self.unhandled: _Failure | None = None
        self.open_activities = len(state.open_activities)

    # -- results

    def decisions(self) -> list[Decision]:
        for name in self.plan.order:
            self.visit(self.plan.step_by_name[name])
            if self.unhandled is not None:
                return [self._fail_for(self.unhandled)]
        if not self.busy:
            return [*self.markers[: MAX_DECISIONS - 1], self._complete()]
        return self._within_limits([*self.actions, *self.markers])

    def _fail_for(self, failure: _Failure) -> Decision:
        details = {"step": failure.step, "reason": failure.reason, "details": failure.details}
        reason = f"step {failure.step} failed: {failure.reason}"
        return _fail_workflow(reason, json.dumps(details))

    def _complete(self) -> Decision:
        try:
            result = json.dumps(self._result())
        except TemplateFailure as failure:
            return _fail_workflow(f"the plan output failed: {failure.reason}", failure.reason)
        if len(result) > MAX_PAYLOAD:
            reason = f"the workflow result is {len(result)} characters, over SWF's {MAX_PAYLOAD}"
            return _fail_workflow(reason, _truncate(result, 1000))
        return _decision("CompleteWorkflowExecution", result=result)

    def _result(self) -> Any:
        if self.plan.output is None:
            leaves = [name for name in self.plan.leaves if self.outcome.get(name) == SUCCEEDED]
            return {name: step_outputs(self.plan, self.state, name) for name in leaves}
        return templates.render_json(self.plan.output, self.context(self.plan.output))

    def _within_limits(self, decisions: list[Decision]) -> list[Decision]:
        if len(decisions) <= MAX_DECISIONS:
            return decisions
        kept = decisions[: MAX_DECISIONS - 1]
        if any(c.kind == KIND_CONTINUE for c in self.state.timers.values()):
            return kept  # the open continue timer will wake us
        timer_id = f"{CONTINUE_TIMER_PREFIX}{self.state.last_event_id}"
        return [*kept, _timer(timer_id, 0, Control(kind=KIND_CONTINUE))]

    # -- bookkeeping

    def finish(
        self, name: str, outcome: str, reason: str | None = None, details: str | None = None
    ) -> None:
        self.outcome[name] = outcome
        recorded = self.state.step(name).status
        if (FAILED if recorded == CANCELED else recorded) != outcome:
            self.markers.append(_marker(name, outcome, reason, details))
        if outcome == FAILED and name not in self.plan.handled_failures:
            self.unhandled = _Failure(name, reason or "failed", details)

    def context(self, template: str, **extra: Any) -> dict[str, Any]:
        """``__input__`` plus the outputs of the succeeded steps the template names."""
        context: dict[str, Any] = {"__input__": self.state.job_input, **extra}
        for name in templates.template_names(template):
            if self.outcome.get(name) == SUCCEEDED:
                context[name] = step_outputs(self.plan, self.state, name)
        return context

    # -- steps

    def visit(self, step: Step) -> None:
        state = self.state.step(step.name)
        if state.status == SKIPPED:
            self.outcome[step.name] = SKIPPED
        elif step.for_each is not None:
            self.visit_for_each(step, state)
        elif state.status == SUCCEEDED:
            self.check_outputs(step, state)
        elif state.status in (FAILED, CANCELED):
            if not self.retry(step, None, state, {}):
                self.finish(step.name, FAILED, state.reason, state.details)
        elif state.status == PENDING:
            if self.requirements_met(step):
                self.start(step, None, state, {})
        else:
            self.busy = True  # scheduled, running, waiting for a retry timer or its attempt

    def check_outputs(self, step: Step, state: StepState) -> None:
        try:
            step_outputs(self.plan, self.state, step.name)
        except TemplateFailure as failure:
            self.finish(step.name, FAILED, failure.reason, None)
            return
        self.outcome[step.name] = SUCCEEDED

    def requirements_met(self, step: Step) -> bool:
        """True when the step may run; otherwise marks it skipped or busy."""
        waiting = False
        for requirement in step.requires:
            outcome = self.outcome.get(requirement.step)
            if outcome is None:
                waiting = True
            elif not requirement.accepts(outcome):
                reason = f"requires {requirement.step} {requirement.status}, which {outcome}"
                self.finish(step.name, SKIPPED, reason)
                return False
        self.busy = self.busy or waiting
        return not waiting

    def retry(
        self, step: Step, item: int | None, state: StepState, extra: Mapping[str, Any]
    ) -> bool:
        """Start the next attempt (now or after a timer) if the retry policy allows one.

        True when the failure was dealt with here (retrying, or the step failed anew).
        """
        policy = step.retry
        reason = state.reason or ""
        if not (
            state.retryable and state.attempts < policy.max_attempts and policy.retries(reason)
        ):
            return False
        attempt = state.attempts + 1
        delay = policy.delay_before(attempt)
        if delay == 0:
            self.start(step, item, state, extra)
            return True
        control = Control(kind=KIND_RETRY, step=step.name, attempt=attempt, item=item)
        self.actions.append(_timer(retry_timer_id(step.name, item, attempt), delay, control))
        self.busy = True
        return True

    def start(
        self, step: Step, item: int | None, state: StepState, extra: Mapping[str, Any]
    ) -> None:
        """Schedule the step's next attempt; fails the step if its input cannot be built."""
        try:
            text = self.build_input(step, extra)
        except TemplateFailure as failure:
            self.finish(step.name, FAILED, failure.reason, None)
            return
        self.busy = True
        if self.open_activities >= MAX_OPEN_ACTIVITIES:
            return  # SWF's limit; a completion will bring the next decision
        self.open_activities += 1
        self.actions.append(self.schedule(step, item, state.attempts + 1, text))

    def build_input(self, step: Step, extra: Mapping[str, Any]) -> str:
        value = templates.render_json(step.input, self.context(step.input, **extra))
        problems = schema_errors(self.plan.activity_of(step).input_spec, value)
        if problems:
            raise TemplateFailure(
                "input does not match the activity input_spec: " + "; ".join(problems)
            )
        text = json.dumps(value)
        if len(text) > MAX_PAYLOAD:
            raise TemplateFailure(f"input is {len(text)} characters, over SWF's {MAX_PAYLOAD}")
        return text

    def schedule(self, step: Step, item: int | None, attempt: int, text: str) -> Decision:
        activity = self.plan.activity_of(step)
        control = Control(kind=KIND_ACTIVITY, step=step.name, attempt=attempt, item=item)
        return _decision(
            "ScheduleActivityTask",
            activityType={"name": activity.name, "version": activity.version},
            activityId=activity_id(step.name, item, attempt),
            control=encode_control(control),
            input=text,
            taskList={"name": activity.task_list},
            heartbeatTimeout=activity.heartbeat_timeout,
            scheduleToCloseTimeout=activity.schedule_to_close_timeout,
            scheduleToStartTimeout=activity.schedule_to_start_timeout,
            startToCloseTimeout=activity.start_to_close_timeout,
        )

    # -- for_each

    def visit_for_each(self, step: Step, state: StepState) -> None:
        if state.status == SUCCEEDED:
            self.check_outputs(step, state)
        elif state.status in (FAILED, CANCELED):
            self.finish(step.name, FAILED, state.reason, state.details)
        elif self.requirements_met(step):
            self.run_items(step, state)

    def run_items(self, step: Step, state: StepState) -> None:
        assert step.for_each is not None
        try:
            items = templates.render_json(step.for_each.items, self.context(step.for_each.items))
        except TemplateFailure as failure:
            self.finish(step.name, FAILED, f"for_each items: {failure.reason}")
            return
        if not isinstance(items, list):
            self.finish(
                step.name, FAILED, f"for_each items must be a list, got {type(items).__name__}"
            )
            return
        limit = step.for_each.max_concurrency or len(items)
        in_flight = 0
        done = 0
        for index, item_state in self._item_states(state, len(items)):
            if item_state.status == SUCCEEDED:
                done += 1
            elif item_state.status in (FAILED, CANCELED):
                if not self.retry(step, index, item_state, _item_names(items, index)):
                    reason = f"item {index} failed: {item_state.reason}"
                    self.finish(step.name, FAILED, reason, item_state.details)
                in_flight += 1
            elif item_state.status in OPEN_STATUSES or item_state.status == RETRY_WAITING:
                in_flight += 1
            elif in_flight < limit:
                self.start(step, index, item_state, _item_names(items, index))
                in_flight += 1
            if step.name in self.outcome:
                return  # an item failed for good, or its input could not be built
        if done == len(items):
            self.finish(step.name, SUCCEEDED)
        else:
            self.busy = True

    @staticmethod
    def _item_states(state: StepState, count: int) -> Iterator[tuple[int, StepState]]:
        for index in range(count):
            yield index, state.items.get(index, NEW_STEP)


def _item_names(items: list[Any], index: int) -> dict[str, Any]:
    """The names a for_each step's input template sees besides ``__input__`` and steps."""
    return {"__item__": items[index], "__index__": index}


# ----------------------------------------------------------------------------- entry points


def _job_input_problem(plan: Plan, state: ExecutionState) -> Decision | None:
    if state.job_input_error is not None:
        return _fail_workflow(f"the job input is {state.job_input_error}", state.job_input_error)
    problems = plan.validate_input(state.job_input)
    if problems:
        reason = "the job input does not match the plan's input_spec: " + problems[0]
        return _fail_workflow(reason, json.dumps({"problems": problems}))
    return None


def _open_slots(state: ExecutionState) -> Iterator[StepState]:
    for step in state.steps.values():
        if step.status in OPEN_STATUSES:
            yield step
        yield from (item for item in step.items.values() if item.status in OPEN_STATUSES)


def _requested_cancels(state: ExecutionState) -> list[Decision]:
    """Ask SWF, once, to cancel each open activity a client asked to cancel (CANCEL_ACTIVITY).

    The worker sees it on its next heartbeat; the attempt then ends ActivityTaskCanceled and
    the step counts as failed (not retried), like any activity canceled on its own.
    """
    return [
        _decision("RequestCancelActivityTask", activityId=slot.activity_id)
        for slot in _open_slots(state)
        if slot.cancel_signaled and not slot.cancel_requested
    ]


def _cancel(state: ExecutionState) -> list[Decision]:
    """Ask open activities to cancel, drop timers, and cancel the workflow once none is open."""
    open_slots = list(_open_slots(state))
    decisions = [
        _decision("RequestCancelActivityTask", activityId=slot.activity_id)
        for slot in open_slots
        if not slot.cancel_requested
    ]
    decisions += [_decision("CancelTimer", timerId=timer_id) for timer_id in sorted(state.timers)]
    if not open_slots:
        decisions.append(_decision("CancelWorkflowExecution", details="canceled on request"))
    return decisions[:MAX_DECISIONS]


def decide(plan: Plan, state: ExecutionState) -> list[Decision]:
    """The decisions that move this execution forward (none once it is closed)."""
    if state.closed or not state.started:
        return []
    if state.decision_failure is not None:
        if state.decision_failure.startswith("FailWorkflowExecutionFailed"):
            return []  # failing is what failed; retrying it would loop
        return [
            _fail_workflow(f"a decision failed: {state.decision_failure}", state.decision_failure)
        ]
    invalid_input = _job_input_problem(plan, state)
    if invalid_input is not None:
        return [invalid_input]
    if state.cancel_requested:
        return _cancel(state)
    return _Pass(plan, state).decisions()
