"""Receive, delete and release on standard SQS queues without a pass over the whole backlog
for every message.

moto's versions cost O(backlog) per message: each received message recomputes every queue
attribute (one pass over the queue) for its retention check, and every visibility test reads
the clock twice through datetime, and so does every SendMessage (it computes all of the queue's
attributes, message counts included). With 5,000 waiting messages one ReceiveMessage took
2.6 s, under the lock every SQS call shares. Here a receive reads the clock once and makes one
pass up to the messages it returns; delete and release find a message through a receipt index;
the message counts read the clock once per count. FIFO queues receive through moto's own code
(their group rules are not worth redoing).
"""

from __future__ import annotations

import copy
import weakref

from moto.core.utils import unix_time_millis
from moto.sqs.models import Message, Queue, _filter_message_attributes

# receipt handle (current or earlier) -> message, per queue; rebuilt lazily (a restored
# snapshot starts with none: a miss falls back to moto's scan, which is always right)
_RECEIPTS: weakref.WeakKeyDictionary[Queue, dict[str, Message]] = weakref.WeakKeyDictionary()
# moto remembers every receipt ever deleted (so deleting twice succeeds); keep the last ones
MAX_REMEMBERED_DELETES = 50_000


def install_fast_counts() -> None:
    """Replace moto's per-message clock reads in the queue's counts (moto's Queue is ours to
    shape in the emulator process: nothing else there uses it)."""
    Queue.messages = property(visible_messages)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages = property(  # type: ignore[assignment,method-assign]
        lambda queue: len(visible_messages(queue))
    )
    Queue.approximate_number_of_messages_not_visible = property(  # type: ignore[assignment,method-assign]
        _count_not_visible
    )
    Queue.approximate_number_of_messages_delayed = property(  # type: ignore[assignment,method-assign]
        _count_delayed
    )


def visible_messages(queue: Queue) -> list[Message]:
    now = unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and now >= m.delayed_until]


def _count_not_visible(queue: Queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now <= m.visible_at)


def _count_delayed(queue: Queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def receipts_of(queue: Queue) -> dict[str, Message]:
    index = _RECEIPTS.get(queue)
    if index is None:
        index = _RECEIPTS[queue] = {}
    return index


def receive(
    queue: Queue, count: int, visibility_timeout: int, attribute_names: list[str]
) -> list[Message]:
    """Up to ``count`` visible messages, oldest first, marked received (copies, as moto returns)."""
    now = unix_time_millis()
    retain_ms = int(queue.message_retention_period) * 1000  # type: ignore[attr-defined]
    max_receives = _max_receives(queue)
    index = receipts_of(queue)
    expired: list[Message] = []
    to_dead_letter: list[Message] = []
    found: list[Message] = []
    for message in queue._messages:
        if now <= message.visible_at or now < message.delayed_until:
            continue  # in flight, or delayed
        queue.pending_messages.discard(message)  # its visibility timeout ran out
        if message.sent_timestamp + retain_ms <= now:  # type: ignore[operator]
            expired.append(message)  # AWS deletes a message once its retention period ends
            continue
        if max_receives is not None and message.approximate_receive_count >= max_receives:
            to_dead_letter.append(message)
            continue
        queue.pending_messages.add(message)
        message.mark_received(visibility_timeout=visibility_timeout)
        index[message.receipt_handle] = message  # type: ignore[index]
        returned = copy.deepcopy(message)  # so filtering attributes leaves the stored one whole
        _filter_message_attributes(returned, attribute_names)
        found.append(returned)
        if len(found) >= count:
            break
    for message in expired + to_dead_letter:
        _forget(queue, message)
    for message in to_dead_letter:
        queue.dead_letter_queue.add_message(message)  # type: ignore[union-attr]
    return found


def delete(queue: Queue, receipt_handle: str) -> bool:
    """Delete by receipt; False if the index does not know it (the caller falls back)."""
    message = message_for(queue, receipt_handle)
    if message is None:
        return False
    _forget(queue, message)
    if len(queue.deleted_messages) > MAX_REMEMBERED_DELETES:
        queue.deleted_messages.clear()
    queue.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
    return True


def message_for(queue: Queue, receipt_handle: str) -> Message | None:
    return receipts_of(queue).get(receipt_handle)


def _forget(queue: Queue, message: Message) -> None:
    queue._messages.remove(message)
    queue.pending_messages.discard(message)
    index = receipts_of(queue)
    for handle in message.all_receipt_handles:
        index.pop(handle, None)  # type: ignore[arg-type]


def _max_receives(queue: Queue) -> int | None:
    if queue.dead_letter_queue is None or not queue.redrive_policy:
        return None
    return int(queue.redrive_policy["maxReceiveCount"])
