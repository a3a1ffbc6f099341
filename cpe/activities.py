"""The activity API that users write against (DESIGN.md §7).

A Python activity is a callable ``handler(input, ctx)``: ``input`` is the decoded step input,
``ctx`` a :class:`Context`, the return value (JSON-encoded) is the result, and raising
:class:`cpe.ActivityFailed` fails the task with a chosen reason. The handler runs in a child
process (see :mod:`cpe.runner`); the context forwards what it is told to the supervising
parent through a :class:`Reporter`, so this module knows nothing about pipes or AWS.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cpe.errors import CPEError

Handler = Callable[[Any, "Context"], Any]


class HandlerImportError(CPEError):
    """A configured ``module:callable`` handler cannot be imported or is not callable."""

    def __init__(self, spec: str, reason: str) -> None:
        self.spec = spec
        self.reason = reason
        super().__init__(f"handler {spec!r}: {reason}")


@dataclass(frozen=True)
class TaskIds:
    """Who a task belongs to; ``job_id`` is None for workflows not started by CPE."""

    job_id: str | None
    workflow_id: str
    run_id: str
    activity_id: str


class Reporter(Protocol):
    """Where a context's calls go: in the child, a pipe to the parent; in tests, a list."""

    def send(self, message: dict[str, Any]) -> None: ...


class Context:
    """What a handler gets besides its input: progress reporting, cancellation and the ids."""

    def __init__(self, ids: TaskIds, reporter: Reporter, cancelled: Callable[[], bool]) -> None:
        self._ids = ids
        self._reporter = reporter
        self._cancelled = cancelled

    def progress(self, value: Any) -> None:
        """Report progress (a percentage or any JSON value); becomes ACTIVITY_PROGRESS.

        Cheap to call often: the parent coalesces to a few events per second.
        """
        self._reporter.send({"progress": value})

    def preparing(self) -> None:
        """Say the task is setting up (downloading, ...); becomes ACTIVITY_PREPARING."""
        self._reporter.send({"preparing": True})

    def finishing(self) -> None:
        """Say the task is wrapping up (uploading, ...); becomes ACTIVITY_FINISHING."""
        self._reporter.send({"finishing": True})

    def heartbeat(self, details: Any = None) -> None:
        """Optional: the parent heartbeats anyway; this sets the details it sends."""
        self._reporter.send({"heartbeat": details})

    @property
    def cancelled(self) -> bool:
        """True once SWF asked to cancel this task; stop soon, the parent kills on a deadline."""
        return self._cancelled()

    @property
    def job_id(self) -> str | None:
        return self._ids.job_id

    @property
    def workflow_id(self) -> str:
        return self._ids.workflow_id

    @property
    def run_id(self) -> str:
        return self._ids.run_id

    @property
    def activity_id(self) -> str:
        return self._ids.activity_id


def load_handler(spec: str) -> Handler:
    """Import ``package.module:attr.path`` and return the callable, or HandlerImportError.

    Done once in the poller at start-up, so that a broken handler is a clear start-up error
    and every forked child starts with the module already imported.
    """
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise HandlerImportError(spec, "expected 'module:callable'")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # any import-time error of user code is the same start-up error
        raise HandlerImportError(spec, f"cannot import {module_name!r}: {exc!r}") from exc
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise HandlerImportError(
                spec, f"{module_name!r} has no attribute {attr_path!r}"
            ) from None
    if not callable(target):
        raise HandlerImportError(spec, f"{attr_path!r} is not callable")
    handler: Handler = target
    return handler
