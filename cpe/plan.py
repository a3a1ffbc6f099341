"""Load and validate plans (YAML) into immutable objects.

Public API (used by the decider, the input poller and ``cpe plan``):

- ``load_plan(path) -> Plan`` and ``parse_plan(text, source) -> Plan``.
- ``load_plans(spec, base_dir=None) -> dict[(name, version), Plan]``: ``spec`` is a file, a
  directory (every ``*.yaml``/``*.yml`` in it) or a list of files/directories; relative paths
  are resolved against ``base_dir``.
- ``Plan``, ``ActivitySpec``, ``Step``, ``Requirement``, ``RetryPolicy``, ``ForEach``: frozen
  dataclasses. ``Plan.validate_input(data) -> list[str]`` checks a job input against the
  plan's ``input_spec``.

Every problem raises :class:`cpe.errors.PlanError` naming the file, the key path
(``steps[2].requires[0]``) and the reason; all problems of a file are reported at once, and
:class:`PlanSetError` gathers the errors of several files. Checking happens in two phases:
the JSON Schema (``plan_schema.json``) first; only a plan whose shape is right is checked
semantically (references, cycles, templates, expressions, timeouts).

Names and versions are strings: an unquoted ``1.0`` or ``1.10`` is read as the text written.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import yaml

from cpe import templates
from cpe.errors import CPEError, PlanError, Problem

STATUSES = ("succeeded", "failed", "skipped", "completed")
DEFAULT_EXECUTION_START_TO_CLOSE_TIMEOUT = "86400"
DEFAULT_TASK_START_TO_CLOSE_TIMEOUT = "300"
# Defaults for activities that omit a timeout: long-running tasks are the norm for CPE, and the
# activity poller heartbeats on its own, so only start-to-close is bounded by default.
DEFAULT_ACTIVITY_TIMEOUTS = {
    "heartbeat_timeout": "NONE",
    "schedule_to_close_timeout": "NONE",
    "schedule_to_start_timeout": "NONE",
    "start_to_close_timeout": "86400",
}
MAX_SWF_TIMEOUT = 31_536_000  # one year, SWF's largest timeout
TEMPLATE_BUILTINS = frozenset({"__input__"})
FOR_EACH_NAMES = frozenset({"__item__", "__index__"})
# Step names become SWF activityIds and timerIds, which forbid these (and '#[]' are ours).
_ID_FORBIDDEN = re.compile(r"[:/|#\[\]\x00-\x1f\x7f-\x9f]")
MAX_STEP_NAME = 200


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Requirement:
    """``step`` must end in ``status`` (succeeded, failed, skipped or completed)."""

    step: str
    status: str = "succeeded"

    def accepts(self, outcome: str) -> bool:
        """Whether a final outcome (succeeded, failed, skipped) satisfies this requirement."""
        return self.status == outcome or self.status == "completed"


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts of a step; delay before attempt n+1 is interval * backoff_rate**(n-1)."""

    max_attempts: int = 1
    interval: float = 0.0
    backoff_rate: float = 2.0
    max_interval: float | None = None
    on: tuple[str, ...] | None = None

    def delay_before(self, attempt: int) -> int:
        """Seconds to wait before ``attempt`` (2, 3, ...), rounded up to whole seconds."""
        delay = self.interval * self.backoff_rate ** max(attempt - 2, 0)
        if self.max_interval is not None:
            delay = min(delay, self.max_interval)
        return int(-(-delay // 1))

    def retries(self, reason: str) -> bool:
        """Whether a failure with ``reason`` is retried (``on`` entries match ``X`` or ``X: ...``)."""
        if self.on is None:
            return True
        return any(reason == item or reason.startswith(item + ":") for item in self.on)


@dataclass(frozen=True)
class ForEach:
    """Fan-out: one activity per item of the list ``items`` renders to."""

    items: str
    max_concurrency: int | None = None


@dataclass(frozen=True)
class ActivitySpec:
    name: str
    version: str
    task_list: str
    heartbeat_timeout: str
    schedule_to_close_timeout: str
    schedule_to_start_timeout: str
    start_to_close_timeout: str
    input_spec: Mapping[str, Any] | bool | None = None
    outputs_spec: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Step:
    name: str
    activity: str
    requires: tuple[Requirement, ...] = ()
    input: str = "{{ __input__ }}"
    retry: RetryPolicy = RetryPolicy()
    for_each: ForEach | None = None


@dataclass(frozen=True, eq=False)
class Plan:
    """A validated plan. Identity-hashed so callers may cache per plan."""

    name: str
    version: str
    source: str
    default_execution_start_to_close_timeout: str
    default_task_start_to_close_timeout: str
    input_spec: Mapping[str, Any] | bool | None
    activities: Mapping[str, ActivitySpec]
    steps: tuple[Step, ...]
    output: str | None = None
    order: tuple[str, ...] = field(default=())  # steps in a topological order

    @functools.cached_property
    def step_by_name(self) -> Mapping[str, Step]:
        return MappingProxyType({step.name: step for step in self.steps})

    @functools.cached_property
    def handled_failures(self) -> frozenset[str]:
        """Steps whose failure some other step waits for ([X, failed] or [X, completed])."""
        return frozenset(
            req.step
            for step in self.steps
            for req in step.requires
            if req.status in ("failed", "completed")
        )

    @functools.cached_property
    def leaves(self) -> tuple[str, ...]:
        """Steps no other step requires, in listing order."""
        required = {req.step for step in self.steps for req in step.requires}
        return tuple(step.name for step in self.steps if step.name not in required)

    def activity_of(self, step: Step) -> ActivitySpec:
        return self.activities[step.activity]

    def validate_input(self, data: Any) -> list[str]:
        """JSON Schema errors of a job input against ``input_spec``; empty when it is fine."""
        return schema_errors(self.input_spec, data)


def schema_errors(schema: Mapping[str, Any] | bool | None, data: Any) -> list[str]:
    """Messages of every way ``data`` violates ``schema`` (none when there is no schema)."""
    if schema is None:
        return []
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_key_path(error.absolute_path) or '(root)'}: {error.message}" for error in errors]


class PlanSetError(PlanError):
    """Several plan files failed; ``errors`` holds one :class:`PlanError` per file."""

    def __init__(self, errors: Sequence[PlanError]) -> None:
        self.errors = list(errors)
        self.source = ", ".join(error.source for error in self.errors)
        self.problems = [problem for error in self.errors for problem in error.problems]
        CPEError.__init__(self, "\n".join(str(error) for error in self.errors))


# ----------------------------------------------------------------------------- YAML


class _Number:
    """Mixin for YAML numbers that remember how they were written (``1.10`` stays "1.10")."""

    text: str


class _Int(int, _Number):
    pass


class _Float(float, _Number):
    pass


class _PlanLoader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans: ``on:`` (a retry key) stays a string."""


_PlanLoader.yaml_implicit_resolvers = {
    first: [entry for entry in resolvers if entry[0] != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PlanLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    number = _Int(yaml.SafeLoader.construct_yaml_int(loader, node))
    number.text = node.value
    return number


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    number = _Float(yaml.SafeLoader.construct_yaml_float(loader, node))
    number.text = node.value
    return number


_PlanLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_PlanLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _text(value: Any) -> str:
    """A name/version/timeout as a string, as written in the file."""
    if isinstance(value, _Number):
        return value.text
    return str(value)


# ----------------------------------------------------------------------------- schema


@functools.lru_cache(maxsize=1)
def _plan_validator() -> jsonschema.Draft202012Validator:
    text = resources.files("cpe").joinpath("plan_schema.json").read_text(encoding="utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


def _key_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_SCHEMA_TYPE_NAMES = {"object": "mapping", "array": "list"}


def _describe_schema_error(error: jsonschema.ValidationError) -> str:
    """A short reason for the common validators; jsonschema's own message otherwise."""
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return f"missing required key {missing!r}"
    if error.validator == "additionalProperties":
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        instance: Any = error.instance
        present = set(instance) - set(schema.get("properties", {}))
        return "unknown key(s) " + ", ".join(repr(key) for key in sorted(present))
    if error.validator == "type":
        expected: Any = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_SCHEMA_TYPE_NAMES.get(name, name) for name in names)
        return f"expected {wanted}, got {_json_type(error.instance)}"
    if error.validator == "oneOf" and error.schema is _requirement_schema():
        return "expected a step name or [step, status]"
    return str(error.message)


@functools.lru_cache(maxsize=1)
def _requirement_schema() -> Any:
    schema: Any = _plan_validator().schema
    return schema["$defs"]["requirement"]


def _json_type(value: Any) -> str:
    names = {dict: "mapping", list: "list", str: "string", bool: "boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "number"


def _shape_problems(document: Any) -> list[Problem]:
    errors = sorted(
        _plan_validator().iter_errors(document),
        key=lambda e: (list(map(str, e.absolute_path)), str(e.message)),
    )
    return [
        Problem(_key_path(error.absolute_path), _describe_schema_error(error)) for error in errors
    ]


# ----------------------------------------------------------------------------- semantic checks


def _timeout(value: Any, key_path: str, problems: list[Problem], allow_none: bool = True) -> str:
    text = _text(value).strip()
    if text == "NONE" and allow_none:
        return text
    if not text.isdigit() or int(text) > MAX_SWF_TIMEOUT:
        allowed = "seconds (0 to 31536000)" + (" or NONE" if allow_none else "")
        problems.append(Problem(key_path, f"invalid timeout {text!r}: expected {allowed}"))
    return text


def _spec_problems(spec: Any, key_path: str) -> list[Problem]:
    if spec is None:
        return []
    try:
        jsonschema.Draft202012Validator.check_schema(spec)
    except jsonschema.SchemaError as error:
        return [Problem(key_path, f"invalid JSON Schema: {error.message}")]
    return []


def _build_activity(raw: Mapping[str, Any], key: str, problems: list[Problem]) -> ActivitySpec:
    name, version = _text(raw["name"]), _text(raw["version"])
    timeouts = {
        option: _timeout(raw.get(option, default), f"{key}.{option}", problems)
        for option, default in DEFAULT_ACTIVITY_TIMEOUTS.items()
    }
    problems += _spec_problems(raw.get("input_spec"), f"{key}.input_spec")
    outputs_spec = raw.get("outputs_spec")
    for output_key, expression in (outputs_spec or {}).items():
        reason = templates.expression_error(expression)
        if reason:
            problems.append(Problem(f"{key}.outputs_spec.{output_key}", reason))
    return ActivitySpec(
        name=name,
        version=version,
        task_list=_text(raw.get("task_list", f"{name}-{version}")),
        input_spec=raw.get("input_spec"),
        outputs_spec=MappingProxyType(dict(outputs_spec)) if outputs_spec is not None else None,
        **timeouts,
    )


def _build_requirement(raw: Any, key: str, problems: list[Problem]) -> Requirement:
    if not isinstance(raw, list):
        return Requirement(_text(raw))
    step, status = _text(raw[0]), raw[1]
    if status not in STATUSES:
        problems.append(
            Problem(key, f"unknown status {status!r}: expected one of {', '.join(STATUSES)}")
        )
    return Requirement(step, status)


def _build_step(raw: Mapping[str, Any], key: str, problems: list[Problem]) -> Step:
    requires = tuple(
        _build_requirement(item, f"{key}.requires[{index}]", problems)
        for index, item in enumerate(raw.get("requires", []))
    )
    retry = dict(raw.get("retry", {}))
    if "on" in retry:
        retry["on"] = tuple(retry["on"])
    optional = {"input": raw["input"]} if "input" in raw else {}
    return Step(
        name=_text(raw["name"]),
        activity=_text(raw["activity"]),
        requires=requires,
        retry=RetryPolicy(**retry),
        for_each=ForEach(**raw["for_each"]) if "for_each" in raw else None,
        **optional,
    )


def _duplicates(names: Sequence[str], what: str, prefix: str) -> list[Problem]:
    first_index: dict[str, int] = {}
    problems = []
    for index, name in enumerate(names):
        if name in first_index:
            reason = f"duplicate {what} {name!r} (first at {prefix}[{first_index[name]}])"
            problems.append(Problem(f"{prefix}[{index}].name", reason))
        first_index.setdefault(name, index)
    return problems


def _step_name_problems(steps: Sequence[Step]) -> Iterator[Problem]:
    for index, step in enumerate(steps):
        key = f"steps[{index}].name"
        if not step.name or step.name != step.name.strip():
            yield Problem(key, "a step name must be non-empty, without surrounding spaces")
        elif _ID_FORBIDDEN.search(step.name) or step.name == "arn":
            # SWF forbids the literal id "arn"; '#', '[' and ']' are ours (attempt/item suffixes).
            reason = "a step name is used as SWF activityId and must not contain : / | # [ ] "
            yield Problem(key, reason + "or control characters, nor be the literal string 'arn'")
        elif len(step.name) > MAX_STEP_NAME:
            yield Problem(key, f"a step name is at most {MAX_STEP_NAME} characters")


def _reference_problems(steps: Sequence[Step], activities: Mapping[str, Any]) -> Iterator[Problem]:
    names = {step.name for step in steps}
    for index, step in enumerate(steps):
        if step.activity not in activities:
            yield Problem(f"steps[{index}].activity", f"unknown activity {step.activity!r}")
        for req_index, req in enumerate(step.requires):
            key = f"steps[{index}].requires[{req_index}]"
            if req.step == step.name:
                yield Problem(key, f"step {step.name!r} requires itself")
            elif req.step not in names:
                yield Problem(key, f"unknown step {req.step!r}")


def _graph(steps: Sequence[Step]) -> dict[str, list[str]]:
    """Step -> the known steps it requires; unknown and self references are reported apart."""
    known = {step.name for step in steps}
    return {
        step.name: [r.step for r in step.requires if r.step in known and r.step != step.name]
        for step in steps
    }


def _topological_order(steps: Sequence[Step]) -> tuple[tuple[str, ...], list[str]]:
    """Steps in dependency order (listing order among equals), and the steps left in cycles."""
    waiting = {name: set(required) for name, required in _graph(steps).items()}
    order: list[str] = []
    progress = True
    while progress:
        progress = False
        for step in steps:
            if step.name in waiting and not waiting[step.name] - set(order):
                order.append(step.name)
                del waiting[step.name]
                progress = True
    return tuple(order), list(waiting)


def _cycle_through(start: str, requires: Mapping[str, list[str]]) -> list[str]:
    """The dependency cycle ``start`` is on, as a closed path."""
    path: list[str] = []
    node = start
    while node not in path:
        path.append(node)
        node = next(r for r in requires[node] if _in_cycle(r, requires))
    return [*path[path.index(node) :], node]


def _in_cycle(name: str, requires: Mapping[str, list[str]]) -> bool:
    seen: set[str] = set()
    frontier = list(requires.get(name, []))
    while frontier:
        node = frontier.pop()
        if node == name:
            return True
        if node not in seen:
            seen.add(node)
            frontier.extend(requires[node])
    return False


def _cycle_problems(steps: Sequence[Step], stuck: list[str]) -> Iterator[Problem]:
    index_of = {step.name: index for index, step in enumerate(steps)}
    reported: set[frozenset[str]] = set()
    requires = _graph(steps)
    for name in stuck:
        if not _in_cycle(name, requires):
            continue  # only waits on a cycle; the cycle itself is reported
        cycle = _cycle_through(name, requires)
        if frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            yield Problem(f"steps[{index_of[name]}].requires", "cycle: " + " -> ".join(cycle))


def _ancestors(steps: Sequence[Step]) -> dict[str, frozenset[str]]:
    requires = _graph(steps)
    result: dict[str, frozenset[str]] = {}

    def visit(name: str) -> frozenset[str]:
        if name not in result:
            result[name] = frozenset()  # breaks cycles, which are reported elsewhere
            direct = requires[name]
            result[name] = frozenset(direct).union(*(visit(r) for r in direct))
        return result[name]

    for step in steps:
        visit(step.name)
    return result


def _template_problems(
    template: str, key: str, visible: frozenset[str], all_steps: frozenset[str]
) -> Iterator[Problem]:
    syntax = templates.template_syntax_error(template)
    if syntax:
        yield Problem(key, syntax)
        return
    for name in sorted(templates.template_names(template) - visible):
        if name in all_steps:
            yield Problem(key, f"template uses step {name!r}, which this step does not require")
        else:
            yield Problem(key, f"template uses unknown name {name!r}")


def _step_template_problems(steps: Sequence[Step]) -> Iterator[Problem]:
    ancestors = _ancestors(steps)
    all_steps = frozenset(ancestors)
    for index, step in enumerate(steps):
        visible = TEMPLATE_BUILTINS | ancestors[step.name]
        if step.for_each:
            key = f"steps[{index}].for_each.items"
            yield from _template_problems(step.for_each.items, key, visible, all_steps)
            visible |= FOR_EACH_NAMES
        yield from _template_problems(step.input, f"steps[{index}].input", visible, all_steps)


def _retry_problems(steps: Sequence[Step]) -> Iterator[Problem]:
    for index, step in enumerate(steps):
        retry = step.retry
        if retry.max_interval is not None and retry.max_interval < retry.interval:
            reason = "max_interval must not be smaller than interval"
            yield Problem(f"steps[{index}].retry.max_interval", reason)


def _semantic_problems(
    document: Mapping[str, Any], source: str
) -> tuple[Plan | None, list[Problem]]:
    problems: list[Problem] = []
    execution_timeout = _timeout(
        document.get(
            "default_execution_start_to_close_timeout", DEFAULT_EXECUTION_START_TO_CLOSE_TIMEOUT
        ),
        "default_execution_start_to_close_timeout",
        problems,
        allow_none=False,
    )
    task_timeout = _timeout(
        document.get("default_task_start_to_close_timeout", DEFAULT_TASK_START_TO_CLOSE_TIMEOUT),
        "default_task_start_to_close_timeout",
        problems,
    )
    problems += _spec_problems(document.get("input_spec"), "input_spec")
    raw_activities = document["activities"]
    activity_list = [
        _build_activity(raw, f"activities[{index}]", problems)
        for index, raw in enumerate(raw_activities)
    ]
    problems += _duplicates([a.name for a in activity_list], "activity", "activities")
    steps = [
        _build_step(raw, f"steps[{index}]", problems) for index, raw in enumerate(document["steps"])
    ]
    problems += _duplicates([s.name for s in steps], "step", "steps")
    problems += _step_name_problems(steps)
    activities = {activity.name: activity for activity in reversed(activity_list)}
    problems += _reference_problems(steps, activities)
    order, stuck = _topological_order(steps)
    problems += _cycle_problems(steps, stuck)
    problems += _retry_problems(steps)
    if not stuck:
        problems += _step_template_problems(steps)
        output = document.get("output")
        if output is not None:
            names = frozenset(step.name for step in steps)
            problems += _template_problems(output, "output", TEMPLATE_BUILTINS | names, names)
    if problems:
        return None, problems
    plan = Plan(
        name=_text(document["name"]),
        version=_text(document["version"]),
        source=source,
        default_execution_start_to_close_timeout=execution_timeout,
        default_task_start_to_close_timeout=task_timeout,
        input_spec=document.get("input_spec"),
        activities=MappingProxyType(activities),
        steps=tuple(steps),
        output=document.get("output"),
        order=order,
    )
    return plan, []


# ----------------------------------------------------------------------------- loading


def _describe_yaml_error(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{where}: {problem}"


def _natural_key(problem: Problem) -> list[Any]:
    """Sort key putting steps[2] before steps[10]."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", problem.key_path)]


def parse_plan(text: str, source: str) -> Plan:
    """Parse and validate a plan's YAML text; ``source`` names it in errors."""
    try:
        document = yaml.load(text, Loader=_PlanLoader)  # a SafeLoader subclass: no Python tags
    except yaml.YAMLError as error:
        raise PlanError(source, [Problem("", _describe_yaml_error(error))]) from None
    if not isinstance(document, dict):
        raise PlanError(
            source, [Problem("", f"a plan must be a mapping, got {_json_type(document)}")]
        )
    problems = _shape_problems(document)
    if problems:
        raise PlanError(source, problems)
    plan, problems = _semantic_problems(document, source)
    if plan is None:
        raise PlanError(source, sorted(problems, key=_natural_key))
    return plan


def load_plan(path: str | Path) -> Plan:
    """Read and validate one plan file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PlanError(str(path), [Problem("", f"cannot read plan: {error}")]) from None
    return parse_plan(text, str(path))


def plan_files(spec: str | Path | Sequence[str | Path], base_dir: Path | None = None) -> list[Path]:
    """The plan files ``spec`` names: files as given, directories expanded to *.yaml/*.yml."""
    entries = [spec] if isinstance(spec, str | Path) else list(spec)
    files: list[Path] = []
    for entry in entries:
        path = Path(entry)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        if path.is_dir():
            files += sorted(
                p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
            )
        else:
            files.append(path)
    return files


def load_plans(
    spec: str | Path | Sequence[str | Path], base_dir: Path | None = None
) -> dict[tuple[str, str], Plan]:
    """Load every plan ``spec`` names, keyed by (name, version); raises for all bad files."""
    plans: dict[tuple[str, str], Plan] = {}
    errors: list[PlanError] = []
    for path in plan_files(spec, base_dir):
        try:
            plan = load_plan(path)
        except PlanError as error:
            errors.append(error)
            continue
        key = (plan.name, plan.version)
        if key in plans:
            reason = f"plan {plan.name!r} version {plan.version!r} is also defined in {plans[key].source}"
            errors.append(PlanError(str(path), [Problem("version", reason)]))
            continue
        plans[key] = plan
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise PlanSetError(errors)
    return plans
