"""SQS semantics of the emulator's own receive, delete and release (emulator/sqs_queues.py),
against the real server: what moto does, minus its per-message passes over the backlog."""

from __future__ import annotations

import json
from typing import Any

from tests.support.emulator import EmulatorProcess


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    visible, in_flight, delayed = (int(attributes[name]) for name in names)
    return visible, in_flight, delayed


def bodies(received: dict[str, Any]) -> list[str]:
    return [m["Body"] for m in received.get("Messages", [])]


def test_receive_is_oldest_first_and_skips_messages_in_flight(emulator: EmulatorProcess) -> None:
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName="order")["QueueUrl"]
    for index in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=str(index))
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)
    assert bodies(first) == ["0", "1"]
    assert counts(sqs, url) == (3, 2, 0)
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["2", "3", "4"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)


def test_released_message_comes_back_and_delete_is_idempotent(emulator: EmulatorProcess) -> None:
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName="release")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    (taken,) = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=taken["ReceiptHandle"], VisibilityTimeout=0
    )
    (again,) = sqs.receive_message(
        QueueUrl=url, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert again["MessageId"] == taken["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["ReceiptHandle"] != taken["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])  # no error
    assert counts(sqs, url) == (0, 0, 0)


def test_longer_visibility_keeps_a_message_hidden(emulator: EmulatorProcess) -> None:
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName="hide", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    (taken,) = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=taken["ReceiptHandle"], VisibilityTimeout=60
    )
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert counts(sqs, url) == (0, 1, 0)


def test_delayed_message_is_not_delivered_early(emulator: EmulatorProcess) -> None:
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName="delay")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["now"]
    assert counts(sqs, url) == (0, 1, 1)


def test_message_past_max_receives_moves_to_the_dead_letter_queue(
    emulator: EmulatorProcess,
) -> None:
    sqs = emulator.client("sqs")
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    policy = json.dumps({"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": 2})
    url = sqs.create_queue(
        QueueName="source", Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "0"}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    assert bodies(sqs.receive_message(QueueUrl=url)) == ["poison"]
    assert bodies(sqs.receive_message(QueueUrl=url)) == ["poison"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # third try: dead-lettered
    assert bodies(sqs.receive_message(QueueUrl=dlq)) == ["poison"]
    assert counts(sqs, url) == (0, 0, 0)


def test_receipts_from_before_a_restart_still_delete(emulator: EmulatorProcess) -> None:
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName="restart")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.send_message(QueueUrl=url, MessageBody="b")
    taken = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    emulator.restart()  # TERM: a final snapshot, and the receipt index starts empty
    sqs = emulator.client("sqs")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=taken[0]["ReceiptHandle"])
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=taken[1]["ReceiptHandle"], VisibilityTimeout=0
    )
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["b"]
