"""Bootstrap: create, idempotently, what a stack configuration names (DESIGN.md section 7).

Reads the YAML minimally (domain, decider task list, plans, client queues, activities) so the
emulator does not depend on the stack's own config loader. Existing resources are left alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends
from moto.swf.exceptions import SWFDomainAlreadyExistsFault, SWFTypeAlreadyExistsFault

from emulator.swf_backend import EmuSWFBackend

log = logging.getLogger(__name__)

DLQ_MAX_RECEIVE_COUNT = 5
REGION = "us-east-1"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _plan_files(config: dict[str, Any], base: Path) -> list[Path]:
    plans = config.get("plans") or []
    entries = [plans] if isinstance(plans, str) else list(plans)
    files: list[Path] = []
    for entry in entries:
        path = Path(entry) if Path(entry).is_absolute() else base / entry
        if not path.exists():
            path = Path(entry)  # relative to the working directory, the repo root by default
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.exists():
            files.append(path)
    return files


def _register(
    swf: EmuSWFBackend, kind: str, domain: str, name: str, version: str, **kw: Any
) -> None:
    with contextlib.suppress(SWFTypeAlreadyExistsFault):
        swf.register_type(kind, domain, name, version, **kw)


def _register_activity(swf: EmuSWFBackend, domain: str, spec: dict[str, Any]) -> None:
    name, version = str(spec["name"]), str(spec["version"])
    _register(
        swf,
        "activity",
        domain,
        name,
        version,
        task_list=str(spec.get("task_list") or f"{name}-{version}"),
        default_task_heartbeat_timeout=_text(spec.get("heartbeat_timeout")),
        default_task_schedule_to_close_timeout=_text(spec.get("schedule_to_close_timeout")),
        default_task_schedule_to_start_timeout=_text(spec.get("schedule_to_start_timeout")),
        default_task_start_to_close_timeout=_text(spec.get("start_to_close_timeout")),
    )


def _register_plan(swf: EmuSWFBackend, domain: str, task_list: str, plan: dict[str, Any]) -> None:
    _register(
        swf,
        "workflow",
        domain,
        str(plan["name"]),
        str(plan["version"]),
        task_list=task_list,
        default_child_policy="TERMINATE",
        default_execution_start_to_close_timeout=_text(
            plan.get("default_execution_start_to_close_timeout")
        ),
        default_task_start_to_close_timeout=_text(plan.get("default_task_start_to_close_timeout")),
    )
    for activity in plan.get("activities") or []:
        _register_activity(swf, domain, activity)


def _queue_name(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1]


def _create_queues(clients: list[dict[str, Any]]) -> None:
    sqs = sqs_backends[DEFAULT_ACCOUNT_ID][REGION]
    for client in clients:
        queues = client.get("queues") or {}
        if queues.get("output"):
            sqs.create_queue(_queue_name(queues["output"]))
        if queues.get("input"):
            name = _queue_name(queues["input"])
            dlq = sqs.create_queue(f"{name}-dlq")
            policy = {
                "deadLetterTargetArn": dlq.queue_arn,
                "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT,
            }
            if name in sqs.queues:
                sqs.set_queue_attributes(name, {"RedrivePolicy": json.dumps(policy)})
            else:
                sqs.create_queue(name, RedrivePolicy=json.dumps(policy))


def _read(config_path: Path) -> dict[str, Any]:
    config = yaml.safe_load(config_path.read_text())
    return config if isinstance(config, dict) else {}


def configured_endpoint(config_path: Path) -> str | None:
    """The endpoint the stack's daemons will call: ``aws.endpoint_url``, else
    ``$AWS_ENDPOINT_URL`` (as cpe.config reads it); None means real AWS."""
    aws = _read(config_path).get("aws")
    endpoint = aws.get("endpoint_url") if isinstance(aws, dict) else None
    return str(endpoint or os.environ.get("AWS_ENDPOINT_URL") or "") or None


def bootstrap(swf: EmuSWFBackend, config_path: Path) -> None:
    config = _read(config_path)
    domain = str(config.get("domain") or "cpe")
    task_list = str((config.get("decider") or {}).get("task_list") or "cpe-decisions")
    with swf.lock:
        with contextlib.suppress(SWFDomainAlreadyExistsFault):
            swf.register_domain(domain, 30)
        for plan_file in _plan_files(config, config_path.parent):
            plan = yaml.safe_load(plan_file.read_text()) or {}
            if plan.get("name") and plan.get("version") is not None:
                _register_plan(swf, domain, task_list, plan)
        for activity in config.get("activities") or []:
            _register_activity(swf, domain, activity)
        swf.version += 1
    _create_queues(config.get("clients") or [])
    log.info("bootstrapped domain %s from %s", domain, config_path)
