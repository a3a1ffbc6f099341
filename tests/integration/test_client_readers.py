"""Two SDK readers sharing one output queue on the emulator: a watcher that holds every
message it does not want, and a reader waiting for the answer the watcher is holding.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cpe import messages
from cpe.client import Client
from tests.support.emulator import EmulatorProcess
from tests.support.stack import DEFAULT_CLIENT, write_config

JOB = "job-under-watch"


@pytest.fixture
def config(tmp_path: Path, emulator: EmulatorProcess, aws_env: Callable[[str], Any]) -> Path:
    return write_config(tmp_path, emulator.endpoint_url)


@pytest.fixture
def watcher(config: Path) -> Iterator[list[dict[str, Any]]]:
    """``cpe watch`` as the SDK runs it: every event of JOB except answers, read forever."""
    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    def watch() -> None:
        for event in Client.from_config(config).events(JOB, wait=None):
            seen.append(event)
            if stop.is_set():
                return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield seen
    stop.set()
    send(config, {"type": messages.ACTIVITY_PROGRESS, "jobId": JOB})  # wakes the watcher
    thread.join(timeout=30)


def send(config: Path, event: dict[str, Any]) -> None:
    client = Client.from_config(config)
    client._sqs.send_json(client._queue_urls()[1], event)


def in_flight(aws_env: Callable[[str], Any], config: Path) -> int:
    sqs = aws_env("sqs")
    url = sqs.get_queue_url(QueueName=DEFAULT_CLIENT["queues"]["output"])["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_an_answer_held_by_a_watcher_reaches_the_reader_that_asked(
    config: Path, watcher: list[dict[str, Any]], aws_env: Callable[[str], Any]
) -> None:
    for round_number in range(3):
        answer = {"type": messages.JOB_STATUS, "jobId": JOB, "data": {"round": round_number}}
        send(config, answer)
        # the watcher takes the answer first (and holds it: answers are not for watchers)
        deadline = time.monotonic() + 10
        while in_flight(aws_env, config) == 0:
            assert time.monotonic() < deadline, "the watcher never received the answer"
            time.sleep(0.05)
        got = Client.from_config(config).answer(JOB, messages.JOB_STATUS, timeout=20)
        assert got["data"] == {"round": round_number}
    assert watcher == []  # the watcher yielded none of the answers
