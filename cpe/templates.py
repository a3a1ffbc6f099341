"""Step-input templates (Jinja2, sandboxed) and ``outputs_spec`` expressions (YAQL).

Templates: every ``{{ }}`` value is emitted as JSON (a string becomes a JSON string, a dict a
JSON object), and the rendered text is parsed with :func:`json.loads`. Undefined names or keys
are errors (``StrictUndefined``). In ``{{ a.b }}`` a dict key wins over a dict method, so
``{{ __input__.items }}`` is the ``items`` key, not ``dict.items``.

Public API:

- ``render_json(template, context) -> Any``; raises :class:`TemplateFailure` with the template
  line and reason.
- ``template_names(template) -> frozenset[str]``: the top-level names a template reads.
- ``template_syntax_error(template) -> str | None``.
- ``evaluate_outputs(outputs_spec, result) -> dict``; raises :class:`TemplateFailure`.
- ``expression_error(expression) -> str | None``.

This module is pure: no I/O, no AWS.
"""

from __future__ import annotations

import collections.abc  # noqa: F401  (yaql 3.2 uses it without importing it)
import functools
import json
import types
from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.meta
import yaql
from jinja2.sandbox import SandboxedEnvironment
from yaql.language import exceptions as yaql_exceptions

TEMPLATE_FILENAME = "<template>"
_EXCERPT_CHARS = 200


class TemplateFailure(Exception):
    """A template or expression could not be evaluated; ``reason`` is fit for a person."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _emit_json(value: Any) -> str:
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises the precise "'x' is undefined" error here
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise TemplateFailure(f"cannot emit a {type(value).__name__} as JSON: {error}") from None


class _JsonEnvironment(SandboxedEnvironment):
    """Sandboxed, strict, JSON-emitting; dict keys shadow dict methods in attribute lookups."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


_ENVIRONMENT = _JsonEnvironment(
    undefined=jinja2.StrictUndefined,
    finalize=_emit_json,
    autoescape=False,
    keep_trailing_newline=True,
)


@functools.lru_cache(maxsize=2048)
def _compiled(template: str) -> jinja2.Template:
    return _ENVIRONMENT.from_string(template)


def template_syntax_error(template: str) -> str | None:
    """The syntax error of a template (with its line), or ``None`` if it parses."""
    try:
        _ENVIRONMENT.parse(template)
    except jinja2.TemplateSyntaxError as error:
        return f"template syntax error at line {error.lineno}: {error.message}"
    return None


@functools.lru_cache(maxsize=2048)
def template_names(template: str) -> frozenset[str]:
    """Top-level names the template reads (minus Jinja's own globals such as ``range``)."""
    names = jinja2.meta.find_undeclared_variables(_ENVIRONMENT.parse(template))
    return frozenset(names - set(_ENVIRONMENT.globals))


def _template_line(traceback: types.TracebackType | None) -> int | None:
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "..."


def render_json(template: str, context: Mapping[str, Any]) -> Any:
    """Render ``template`` with ``context`` and parse the result as JSON."""
    try:
        text = _compiled(template).render(context)
    except TemplateFailure as failure:
        raise TemplateFailure(f"template failed: {failure.reason}") from None
    except jinja2.TemplateError as error:
        line = _template_line(error.__traceback__)
        where = f" at line {line}" if line is not None else ""
        raise TemplateFailure(f"template failed{where}: {error}") from None
    except Exception as error:  # a filter or test raising anything else is the template's fault
        raise TemplateFailure(f"template failed: {type(error).__name__}: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TemplateFailure(
            f"template did not render valid JSON ({error}): {_excerpt(text)}"
        ) from None


# ----------------------------------------------------------------------------- YAQL


@functools.lru_cache(maxsize=1)
def _yaql_engine() -> Any:
    return yaql.factory.YaqlFactory().create()


@functools.lru_cache(maxsize=1)
def _yaql_root_context() -> Any:
    # Building a YAQL context costs ~20 ms; evaluations use cheap child contexts of one root.
    return yaql.create_context()


@functools.lru_cache(maxsize=2048)
def _parsed_expression(expression: str) -> Any:
    return _yaql_engine()(expression)


def expression_error(expression: str) -> str | None:
    """The parse error of a YAQL expression, or ``None`` if it parses."""
    try:
        _parsed_expression(expression)
    except yaql_exceptions.YaqlException as error:
        return f"invalid YAQL expression {expression!r}: {error}"
    return None


def evaluate_expression(expression: str, result: Any) -> Any:
    """Evaluate one YAQL expression with ``$`` bound to ``result``."""
    if expression.strip() == "$":
        return result  # the common case, without YAQL's data conversion round trip
    try:
        parsed = _parsed_expression(expression)
        return parsed.evaluate(data=result, context=_yaql_root_context().create_child_context())
    except Exception as error:  # YAQL raises many unrelated types for bad data
        raise TemplateFailure(
            f"outputs_spec expression {expression!r} failed: {type(error).__name__}: {error}"
        ) from None


def evaluate_outputs(outputs_spec: Mapping[str, str] | None, result: Any) -> Any:
    """A step's outputs: each ``outputs_spec`` expression over the result, or the whole result."""
    if not outputs_spec:
        return result
    return {key: evaluate_expression(expr, result) for key, expr in outputs_spec.items()}
