"""Validate a parsed command against the stack: its client, its workflow, its input.

Pure: no AWS calls. :func:`check_client` makes sure a command cannot speak for another
client or name other queues than the ones the configuration gives its client;
:func:`start_request` turns a START_JOB into everything ``StartWorkflowExecution`` needs, or
raises :class:`CommandRejected` with a stable reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from cpe import messages
from cpe.config import ClientSettings
from cpe.errors import CommandRejected
from cpe.messages import Command
from cpe.plan import Plan


@dataclass(frozen=True)
class ClientQueues:
    """A configured client and the URLs its queue names resolved to."""

    settings: ClientSettings
    input_url: str
    output_url: str
    dead_letter_url: str

    @property
    def name(self) -> str:
        return self.settings.name


@dataclass(frozen=True)
class StartRequest:
    client: str
    job_id: str
    workflow_id: str
    plan: Plan
    input: dict[str, Any]  # the workflow input: START_JOB data with the configured client
    input_text: str
    execution_timeout: str | None

    @property
    def workflow_type(self) -> tuple[str, str]:
        return (self.plan.name, self.plan.version)


def _queue_name(name_or_url: str) -> str:
    # Clients may reach the same queue through another host name (localhost vs 127.0.0.1,
    # regional vs legacy SQS endpoints); the queue's name is the last path segment.
    if name_or_url.startswith(("http://", "https://")):
        return urlparse(name_or_url).path.rstrip("/").rsplit("/", 1)[-1]
    return name_or_url


def _same_queue(given: str, configured: str, resolved_url: str) -> bool:
    return given in (configured, resolved_url) or _queue_name(given) == _queue_name(resolved_url)


def check_client(command: Command, client: ClientQueues) -> None:
    """Reject a command whose ``data.client`` names another client or other queues."""
    named = command.data.get("client")
    if named is None:
        return
    if not isinstance(named, Mapping):
        raise CommandRejected(
            messages.INVALID_COMMAND, "data/client must be an object", command.job_id
        )
    name = named.get("name")
    if name is not None and name != client.name:
        raise CommandRejected(
            messages.CLIENT_MISMATCH,
            f"data.client.name is {name!r} but this input queue belongs to client {client.name!r}",
            command.job_id,
        )
    queues = named.get("queues") or {}
    if not isinstance(queues, Mapping):
        raise CommandRejected(
            messages.INVALID_COMMAND, "data/client/queues must be an object", command.job_id
        )
    expected = {
        "input": (client.settings.input_queue, client.input_url),
        "output": (client.settings.output_queue, client.output_url),
    }
    for role, (configured, url) in expected.items():
        given = queues.get(role)
        if given is not None and not (
            isinstance(given, str) and _same_queue(given, configured, url)
        ):
            raise CommandRejected(
                messages.CLIENT_MISMATCH,
                f"data.client.queues.{role} is {given!r}; client {client.name!r} uses {configured!r}",
                command.job_id,
            )


def configured_client(client: ClientSettings) -> dict[str, Any]:
    """The ``client`` object a workflow input carries: the configuration's, never the message's."""
    return {
        "name": client.name,
        "queues": {"input": client.input_queue, "output": client.output_queue},
    }


def find_plan(
    workflow: Mapping[str, Any],
    plans: Mapping[tuple[str, str], Plan],
    domain: str,
    job_id: str | None,
) -> Plan:
    """The loaded plan a START_JOB's ``data.workflow`` names, in this stack's domain."""
    given_domain = workflow.get("domain")
    if given_domain is not None and given_domain != domain:
        raise CommandRejected(
            messages.WRONG_DOMAIN,
            f"data.workflow.domain is {given_domain!r}; this stack serves domain {domain!r}",
            job_id,
        )
    key = (str(workflow["name"]), str(workflow["version"]))
    plan = plans.get(key)
    if plan is None:
        known = ", ".join(f"{n}:{v}" for n, v in sorted(plans)) or "none"
        raise CommandRejected(
            messages.UNKNOWN_WORKFLOW,
            f"no plan for workflow {key[0]!r} version {key[1]!r}; loaded plans: {known}",
            job_id,
        )
    return plan


def start_request(
    command: Command, client: ClientQueues, plans: Mapping[tuple[str, str], Plan], domain: str
) -> StartRequest:
    """Everything needed to start the job's workflow, or CommandRejected saying why not."""
    job_id = command.job_id
    assert job_id is not None  # the START_JOB schema requires it
    workflow = command.data["workflow"]
    plan = find_plan(workflow, plans, domain, job_id)
    workflow_input = {**command.data, "client": configured_client(client.settings)}
    problems = plan.validate_input(workflow_input)
    if problems:
        raise CommandRejected(messages.INVALID_INPUT, "; ".join(problems[:10]), job_id)
    text = json.dumps(workflow_input, separators=(",", ":"))
    if len(text) > messages.MAX_SWF_INPUT:
        raise CommandRejected(
            messages.INPUT_TOO_LARGE,
            f"the job input is {len(text)} characters once encoded; SWF accepts {messages.MAX_SWF_INPUT}",
            job_id,
        )
    timeout = workflow.get("executionStartToCloseTimeout")
    return StartRequest(
        client=client.name,
        job_id=job_id,
        workflow_id=messages.workflow_id_for(client.name, job_id),
        plan=plan,
        input=workflow_input,
        input_text=text,
        execution_timeout=str(timeout) if timeout is not None else None,
    )
