"""The project's exception tree.

Every exception CPE raises on purpose derives from :class:`CPEError` and carries the data a
caller needs to act on it (which file, which key, which AWS operation), not just a string.
Daemons catch broadly only at their loop boundary; everything below raises these.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class CPEError(Exception):
    """Root of every error CPE raises deliberately."""


class ConfigError(CPEError):
    """The stack configuration (cpe.yaml) is invalid: names the file, the key path and why."""

    def __init__(self, source: str, key_path: str, reason: str) -> None:
        self.source = source
        self.key_path = key_path
        self.reason = reason
        where = f"{source}: {key_path}" if key_path else source
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan: the key path (``steps[2].requires[0]``) and the reason."""

    key_path: str
    reason: str

    def render(self, source: str) -> str:
        where = f"{source}: {self.key_path}" if self.key_path else source
        return f"{where}: {self.reason}"


class PlanError(CPEError):
    """A plan file failed to load or validate; carries every problem found, not just the first."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(p.render(source) for p in self.problems))


class CommandRejected(CPEError):
    """A client command that cannot be parsed or validated; becomes a COMMAND_REJECTED event."""

    def __init__(self, reason: str, details: str, job_id: str | None = None) -> None:
        self.reason = reason
        self.details = details
        self.job_id = job_id
        super().__init__(f"{reason}: {details}")


class ActivityFailed(CPEError):
    """Raised by activity code to fail its task deliberately with a reason a person can act on."""

    def __init__(self, reason: str, details: str = "") -> None:
        self.reason = reason
        self.details = details
        super().__init__(f"{reason}: {details}" if details else reason)


@dataclass
class AWSError(CPEError):
    """An AWS (or emulator) call failed; ``code`` is the service's error code."""

    operation: str
    code: str
    message: str
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.operation}: {self.code}: {self.message}")

    def __str__(self) -> str:
        return f"{self.operation}: {self.code}: {self.message}"


class EndpointUnavailable(AWSError):
    """The endpoint could not be reached (connection refused, reset, timed out)."""


class Throttled(AWSError):
    """The service asked us to slow down (ThrottlingException, RequestLimitExceeded...)."""


class UnknownResource(AWSError):
    """The named domain, type, execution, task or queue does not exist (or no longer exists)."""


class AlreadyExists(AWSError):
    """The domain/type is already registered or the workflow execution is already running."""


class InvalidRequest(AWSError):
    """The service rejected the request itself (validation error, limit exceeded, bad token)."""
