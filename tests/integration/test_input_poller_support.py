"""Helpers for the input poller and client tests: a stack config, raw SQS commands, answers.

Tests talk to the stack the way a client does: JSON bodies on the client's input queue,
answers read from its output queue (and the dead-letter queue checked), with deadlines
instead of sleeps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.stack import DaemonSet, write_config

PLANS = Path(__file__).parent / "plans"
ECHO_PLAN = PLANS / "input_echo.yaml"
ECHO = {"name": "InputEcho", "version": "1.0"}
CLIENT_A = {"name": "alpha", "queues": {"input": "alpha-input", "output": "alpha-output"}}
CLIENT_B = {"name": "beta", "queues": {"input": "beta-input", "output": "beta-output"}}
DEADLINE = 60.0


@dataclass
class Queues:
    """One client's three queues, seen from outside the stack."""

    sqs: Any
    input_url: str
    output_url: str
    dlq_url: str

    def send(self, body: str | dict[str, Any]) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.sqs.send_message(QueueUrl=self.input_url, MessageBody=text)

    def drain(self, url: str, count: int, timeout: float = DEADLINE) -> list[str]:
        """Exactly ``count`` bodies from ``url`` (deleted), or fail at the deadline."""
        bodies: list[str] = []
        deadline = time.monotonic() + timeout
        while len(bodies) < count and time.monotonic() < deadline:
            response = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in response.get("Messages", []):
                bodies.append(message["Body"])
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        assert len(bodies) >= count, f"got {len(bodies)} of {count} messages from {url}"
        return bodies

    def answers(self, count: int, timeout: float = DEADLINE) -> list[dict[str, Any]]:
        return [json.loads(b) for b in self.drain(self.output_url, count, timeout)]

    def answer(self, timeout: float = DEADLINE) -> dict[str, Any]:
        return self.answers(1, timeout)[0]

    def nothing_more(self, url: str | None = None, seconds: float = 2.0) -> None:
        response = self.sqs.receive_message(
            QueueUrl=url or self.output_url, MaxNumberOfMessages=10, WaitTimeSeconds=int(seconds)
        )
        assert not response.get("Messages"), response.get("Messages")


def wait_for_queue(sqs: Any, name: str, timeout: float = DEADLINE) -> str:
    """The URL of a queue the daemon creates at start-up, once it exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        except sqs.exceptions.QueueDoesNotExist:
            time.sleep(0.1)  # polling for a resource the daemon creates, bounded by the deadline
    raise AssertionError(f"queue {name} never appeared")


def queues_of(emulator: EmulatorProcess, client: dict[str, Any]) -> Queues:
    sqs = emulator.client("sqs")
    names = client["queues"]
    input_url = wait_for_queue(sqs, names["input"])
    output_url = wait_for_queue(sqs, names["output"])
    dlq_url = wait_for_queue(sqs, names["input"] + "-dlq")
    return Queues(sqs, input_url, output_url, dlq_url)


def start_job(job_id: str, client: dict[str, Any], **data: Any) -> dict[str, Any]:
    """A START_JOB in the original envelope, as the PHP SDK sends it."""
    return {
        "time": time.time(),
        "type": "START_JOB",
        "jobId": job_id,
        "data": {
            "workflow": {**ECHO, "domain": "cpe-test", "taskList": "cpe-decisions"},
            "client": client,
            "payload": {"n": 1},
            **data,
        },
    }


def command(kind: str, job_id: str | None, **data: Any) -> dict[str, Any]:
    return {"time": time.time(), "type": kind, "jobId": job_id, "data": data}


def make_config(
    tmp_path: Path, emulator: EmulatorProcess, clients: tuple[dict[str, Any], ...] = (CLIENT_A,)
) -> Path:
    return write_config(
        tmp_path,
        emulator.endpoint_url,
        plans=[ECHO_PLAN],
        clients=clients,
        extra={"status_cache_seconds": 0},
    )


@pytest.fixture
def stack(tmp_path: Path, emulator: EmulatorProcess) -> Iterator[DaemonSet]:
    """An input poller serving clients alpha and beta."""
    config = make_config(tmp_path, emulator, (CLIENT_A, CLIENT_B))
    with DaemonSet(config) as daemons:
        daemons.start("input-poller")
        yield daemons


def eventually(check: Callable[[], bool], timeout: float = DEADLINE, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)  # re-check a condition on a real process, bounded by the deadline
    raise AssertionError(f"timed out waiting for {what}")
