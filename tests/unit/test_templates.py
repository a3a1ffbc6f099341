"""Templates and step inputs: JSON emission, the sandbox, and each way an input can fail its
step (DESIGN.md §5: never the daemon)."""

from __future__ import annotations

from typing import Any

import pytest

from cpe.decide import decide
from cpe.plan import parse_plan
from cpe.state import fold
from cpe.templates import TemplateFailure, evaluate_outputs, render_json
from tests.support.history import History
from tests.unit.test_decide import attributes


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("{{ x }}", {"x": 'a "quoted" string'}, 'a "quoted" string'),
        (
            '{"n": {{ n }}, "list": {{ items }}}',
            {"n": 3, "items": [1, None]},
            {"n": 3, "list": [1, None]},
        ),
        (
            "{{ d.keys }}",
            {"d": {"keys": "a key that shadows dict.keys"}},
            "a key that shadows dict.keys",
        ),
        (
            "[{% for i in items %}{{ i * 2 }}{% if not loop.last %},{% endif %}{% endfor %}]",
            {"items": [1, 2]},
            [2, 4],
        ),
    ],
)
def test_every_value_is_emitted_as_json(
    template: str, context: dict[str, Any], expected: Any
) -> None:
    assert render_json(template, context) == expected


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        # The sandbox: no way from a template to Python internals.
        (
            "{{ x.__class__.__mro__ }}",
            "template failed at line 1: access to attribute '__class__' of 'str' object is unsafe.",
        ),
        (
            "{{ x.format.__globals__ }}",
            "template failed at line 1: access to attribute '__globals__' of 'function' object"
            " is unsafe.",
        ),
        # Anything that is not JSON, with an excerpt of what it rendered.
        (
            '{"a": {{ x }}',
            'template did not render valid JSON (Expecting \',\' delimiter: line 1 column 10 (char 9)): {"a": "s"',
        ),
        ("{{ undefined_name }}", "template failed at line 1: 'undefined_name' is undefined"),
        (
            "{{ f }}",
            "template failed: cannot emit a set as JSON: Object of type set is not JSON serializable",
        ),
    ],
)
def test_a_bad_template_is_a_template_failure_with_a_reason(template: str, reason: str) -> None:
    with pytest.raises(TemplateFailure) as failure:
        render_json(template, {"x": "s", "f": {1}})
    assert failure.value.reason == reason


@pytest.mark.parametrize(
    ("spec", "result", "expected"),
    [
        (None, {"a": 1}, {"a": 1}),
        ({"whole": "$"}, {"a": 1}, {"whole": {"a": 1}}),
        (
            {"deep": "$.a.b", "first": "$.a.b[0]"},
            {"a": {"b": [1, 2]}},
            {"deep": [1, 2], "first": 1},
        ),
    ],
)
def test_outputs_spec_is_yaql_over_the_result(
    spec: dict[str, str] | None, result: Any, expected: Any
) -> None:
    assert evaluate_outputs(spec, result) == expected


def test_an_outputs_spec_that_does_not_fit_the_result_names_the_expression() -> None:
    with pytest.raises(TemplateFailure) as failure:
        evaluate_outputs({"missing": "$.nope"}, {"a": 1})
    assert failure.value.reason == "outputs_spec expression '$.nope' failed: KeyError: 'nope'"


PLAN = """
name: P
version: "1"
activities:
  - name: Typed
    version: "1"
    input_spec: {type: object, required: [n], properties: {n: {type: integer}}}
steps:
  - name: S1
    activity: Typed
    input: |
      {{ __input__ }}
"""


@pytest.mark.parametrize(
    ("job_input", "reason"),
    [
        (
            {"n": "three"},
            "step S1 failed: input does not match the activity input_spec: n: 'three' is not of type 'integer'",
        ),
        (
            {"m": 1},
            "step S1 failed: input does not match the activity input_spec: (root): 'n' is a required property",
        ),
        (
            {"n": 1, "pad": "x" * 33_000},
            "step S1 failed: input is 33019 characters, over SWF's 32768",
        ),
    ],
)
def test_an_input_that_cannot_be_sent_fails_its_step(
    job_input: dict[str, Any], reason: str
) -> None:
    history = History()
    history.started(job_input)
    (decision,) = decide(parse_plan(PLAN, "typed.yaml"), fold(history.events))
    assert decision["decisionType"] == "FailWorkflowExecution"
    assert attributes(decision)["reason"] == reason
