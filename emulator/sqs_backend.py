"""SQS: moto's SQS models and responses, made safe for a threaded server.

Stock moto runs SQS requests concurrently with no lock, so two concurrent ReceiveMessage calls
can both hand out the same message. We serialise every SQS call on one re-entrant lock and make
ReceiveMessage's long poll wait *outside* that lock (on moto's per-queue condition, which
SendMessage and a release to visibility 0 notify), re-checking at least every second so that
messages whose visibility timeout expires are also picked up. Standard queues receive, delete and
release through `emulator.sqs_queues`, which passes over a backlog once per call, not per message.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from moto.core.common_types import TYPE_RESPONSE
from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends
from moto.sqs.responses import SQSResponse

from emulator import sqs_queues
from emulator.tracking import stop_tracking

SQS_LOCK = threading.RLock()
# Bumped on every SQS call that may change state, so persistence knows when a snapshot is due
# (and a response knows whether it must wait for one).
SQS_VERSION = [0]
_READ_ONLY_ACTIONS = frozenset(
    {
        "GetQueueUrl",
        "GetQueueAttributes",
        "ListQueues",
        "ListQueueTags",
        "ListDeadLetterSourceQueues",
    }
)


class EmuSQSBackend(SQSBackend):
    def receive_message(
        self,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Message]:
        deadline = time.monotonic() + wait_seconds_timeout
        queue = self.get_queue(queue_name)
        while True:
            found = self._receive_once(queue, count, visibility_timeout, message_attribute_names)
            remaining = deadline - time.monotonic()
            if found:
                SQS_VERSION[0] += 1  # receive counts, receipt handles, visibility moved
                return found
            if remaining <= 0:
                return found
            # Take the queue's condition before letting senders in, so no notify is missed;
            # senders take SQS_LOCK first and the condition second, and so do we on waking.
            with queue._messages_lock:
                SQS_LOCK.release()  # held once by EmuSQSResponse.call_action
                queue._messages_lock.wait(min(remaining, 1.0))
            SQS_LOCK.acquire()

    def _receive_once(
        self,
        queue: Queue,
        count: int,
        visibility_timeout: int,
        attribute_names: list[str] | None,
    ) -> list[Message]:
        if queue.fifo_queue:  # moto's own pass; a zero wait makes exactly one
            return super().receive_message(
                queue.name, count, 0, visibility_timeout, attribute_names
            )
        return sqs_queues.receive(queue, count, visibility_timeout, attribute_names or [])

    def delete_message(self, queue_name: str, receipt_handle: str) -> None:
        if not sqs_queues.delete(self.get_queue(queue_name), receipt_handle):
            super().delete_message(queue_name, receipt_handle)

    def change_message_visibility(
        self, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        queue = self.get_queue(queue_name)
        release = int(visibility_timeout) == 0
        message = sqs_queues.message_for(queue, receipt_handle)
        if release and message is not None:
            message.change_visibility(0)  # a release needs none of moto's limit checks
            queue.pending_messages.discard(message)
        else:
            super().change_message_visibility(queue_name, receipt_handle, visibility_timeout)
        if release:
            # A reader handing a message back: wake the long polls now, as AWS would,
            # rather than at their next once-a-second check.
            with queue._messages_lock:
                queue._messages_lock.notify_all()


class EmuSQSResponse(SQSResponse):
    def call_action(self) -> TYPE_RESPONSE:
        with SQS_LOCK:
            action = self._get_action()
            if action not in _READ_ONLY_ACTIONS and action != "ReceiveMessage":
                SQS_VERSION[0] += 1
            return super().call_action()


def install() -> None:
    """Make moto create our backend class for every account and region from now on.

    moto's queues find their dead-letter queue through the global ``sqs_backends``, so the
    backend must live there rather than in a private instance.
    """
    sqs_backends.backend = EmuSQSBackend
    sqs_queues.install_fast_counts()
    stop_tracking(Message, Queue)  # else every message ever sent stays in memory


def all_backends() -> dict[str, dict[str, Any]]:
    return {account: dict(regions) for account, regions in sqs_backends.items()}


def restore_backends(saved: dict[str, dict[str, Any]]) -> None:
    for account, regions in saved.items():
        for region, backend in regions.items():
            sqs_backends[account][region] = backend
