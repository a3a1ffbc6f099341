"""The stack configuration: ``cpe.yaml`` → one frozen :class:`Settings`.

Configuration flows one way: the command line names the file (``--config`` or ``CPE_CONFIG``,
default ``cpe.yaml`` in the working directory), :func:`load_settings` validates all of it at
start-up and every constructor takes the resulting frozen object. Errors name the key path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cpe.errors import ConfigError

DEFAULT_CONFIG = "cpe.yaml"
CONFIG_ENV = "CPE_CONFIG"

# Client names become the prefix of SWF workflowIds ("<client>.<jobId>"), so they may not
# contain the separator or anything SWF forbids in an id.
CLIENT_NAME = r"^[A-Za-z0-9_-]{1,64}$"
_TIMEOUT = {
    "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^(\d+|NONE)$"}]
}

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["domain"],
    "properties": {
        "aws": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "region": {"type": "string", "minLength": 1},
                "endpoint_url": {"type": ["string", "null"], "pattern": r"^https?://"},
            },
        },
        "domain": {"type": "string", "minLength": 1, "maxLength": 256},
        "domain_retention_days": {"type": "integer", "minimum": 0, "maximum": 90},
        "decider": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"task_list": {"type": "string", "minLength": 1, "maxLength": 256}},
        },
        "plans": {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string", "minLength": 1}},
            ]
        },
        "clients": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "queues"],
                "properties": {
                    "name": {"type": "string", "pattern": CLIENT_NAME},
                    "queues": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["input", "output"],
                        "properties": {
                            "input": {"type": "string", "minLength": 1},
                            "output": {"type": "string", "minLength": 1},
                        },
                    },
                },
            },
        },
        "activities": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "version"],
                "oneOf": [{"required": ["handler"]}, {"required": ["command"]}],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 256},
                    "version": {"type": ["string", "number"]},
                    "handler": {"type": "string", "pattern": r"^[\w.]+:[\w.]+$"},
                    "command": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "task_list": {"type": "string", "minLength": 1, "maxLength": 256},
                    "heartbeat_timeout": _TIMEOUT,
                    "schedule_to_close_timeout": _TIMEOUT,
                    "schedule_to_start_timeout": _TIMEOUT,
                    "start_to_close_timeout": _TIMEOUT,
                    "memory_limit_mb": {"type": "integer", "minimum": 1},
                    "cpu_time_limit_s": {"type": "integer", "minimum": 1},
                },
            },
        },
        "worker": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "grace_period": {"type": "number", "minimum": 0},
                "cancel_grace_period": {"type": "number", "minimum": 0},
            },
        },
        "status_cache_seconds": {"type": "number", "minimum": 0},
    },
}


@dataclass(frozen=True)
class AwsSettings:
    region: str
    endpoint_url: str | None


@dataclass(frozen=True)
class ClientSettings:
    name: str
    input_queue: str
    output_queue: str


@dataclass(frozen=True)
class ActivitySettings:
    """One activity the pollers can run: a Python ``handler`` or an executable ``command``."""

    name: str
    version: str
    handler: str | None
    command: tuple[str, ...] | None
    task_list: str
    heartbeat_timeout: str
    schedule_to_close_timeout: str
    schedule_to_start_timeout: str
    start_to_close_timeout: str
    memory_limit_mb: int | None
    cpu_time_limit_s: int | None


@dataclass(frozen=True)
class WorkerSettings:
    grace_period: float
    cancel_grace_period: float


@dataclass(frozen=True)
class Settings:
    source: Path
    base_dir: Path
    aws: AwsSettings
    domain: str
    domain_retention_days: int
    decider_task_list: str
    plans: tuple[Path, ...]
    clients: tuple[ClientSettings, ...]
    activities: tuple[ActivitySettings, ...]
    worker: WorkerSettings
    status_cache_seconds: float

    def client(self, name: str) -> ClientSettings:
        for client in self.clients:
            if client.name == name:
                return client
        raise KeyError(name)

    def activity(self, name: str, version: str) -> ActivitySettings | None:
        for activity in self.activities:
            if (activity.name, activity.version) == (name, version):
                return activity
        return None


def config_path(explicit: str | None = None) -> Path:
    """The config file to use: ``--config``, else ``$CPE_CONFIG``, else ./cpe.yaml."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read, validate and freeze the configuration; raises ConfigError naming the key path."""
    source = config_path(str(path) if path is not None else None)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(source), "", f"cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(source), "", f"not valid YAML: {exc}") from exc
    return parse_settings(raw if raw is not None else {}, source)


def parse_settings(raw: Any, source: Path) -> Settings:
    _check_schema(raw, str(source))
    base_dir = source.resolve().parent
    aws_raw = raw.get("aws", {})
    aws = AwsSettings(
        region=aws_raw.get("region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint_url=aws_raw.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL") or None,
    )
    worker_raw = raw.get("worker", {})
    clients = tuple(_client(c) for c in raw.get("clients", []))
    _check_unique([c.name for c in clients], "clients", str(source))
    activities = tuple(_activity(a) for a in raw.get("activities", []))
    _check_unique([f"{a.name}:{a.version}" for a in activities], "activities", str(source))
    return Settings(
        source=source,
        base_dir=base_dir,
        aws=aws,
        domain=raw["domain"],
        domain_retention_days=raw.get("domain_retention_days", 1),
        decider_task_list=raw.get("decider", {}).get("task_list", "cpe-decisions"),
        plans=_plan_paths(raw.get("plans", "plans/"), base_dir),
        clients=clients,
        activities=activities,
        worker=WorkerSettings(
            grace_period=float(worker_raw.get("grace_period", 30)),
            cancel_grace_period=float(worker_raw.get("cancel_grace_period", 5)),
        ),
        status_cache_seconds=float(raw.get("status_cache_seconds", 2)),
    )


def _check_schema(raw: Any, source: str) -> None:
    validator = jsonschema.Draft202012Validator(_SCHEMA)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        raise ConfigError(source, _key_path(first.absolute_path), first.message)


def _key_path(parts: Sequence[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _check_unique(names: list[str], key: str, source: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise ConfigError(source, f"{key}[{index}]", f"duplicate entry {name!r}")
        seen.add(name)


def _client(raw: Mapping[str, Any]) -> ClientSettings:
    queues = raw["queues"]
    return ClientSettings(
        name=raw["name"], input_queue=queues["input"], output_queue=queues["output"]
    )


def _activity(raw: Mapping[str, Any]) -> ActivitySettings:
    version = _version(raw["version"])
    return ActivitySettings(
        name=raw["name"],
        version=version,
        handler=raw.get("handler"),
        command=tuple(raw["command"]) if "command" in raw else None,
        task_list=raw.get("task_list") or f"{raw['name']}-{version}",
        heartbeat_timeout=str(raw.get("heartbeat_timeout", "60")),
        schedule_to_close_timeout=str(raw.get("schedule_to_close_timeout", "NONE")),
        schedule_to_start_timeout=str(raw.get("schedule_to_start_timeout", "NONE")),
        start_to_close_timeout=str(raw.get("start_to_close_timeout", "3600")),
        memory_limit_mb=raw.get("memory_limit_mb"),
        cpu_time_limit_s=raw.get("cpu_time_limit_s"),
    )


def _version(value: Any) -> str:
    # YAML reads an unquoted 1.0 as a float; the original CPE meant the string "1.0".
    return value if isinstance(value, str) else str(value)


def _plan_paths(value: str | list[str], base_dir: Path) -> tuple[Path, ...]:
    entries = [value] if isinstance(value, str) else value
    return tuple(p if p.is_absolute() else base_dir / p for p in map(Path, entries))
