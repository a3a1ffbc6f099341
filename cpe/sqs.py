"""The SQS gateway: queues by name or URL, long-poll receives, JSON sends within SQS limits.

Queues named in the configuration are created when missing (on AWS as on the emulator), and
created again if the endpoint later says they do not exist, so a restarted emulator or a
queue deleted by hand costs one log line, not a dead daemon.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from cpe import aws, log
from cpe.errors import InvalidRequest, UnknownResource

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

T = TypeVar("T")
_log = log.get("cpe.sqs")

MAX_MESSAGE_BYTES = 256 * 1024
LONG_POLL_SECONDS = 20
DEFAULT_MAX_RECEIVES = 5  # deliveries of one command before SQS moves it to the dead-letter queue


@dataclass(frozen=True)
class Message:
    body: str
    receipt: str
    message_id: str
    receive_count: int


def dead_letter_name(queue_name: str) -> str:
    return f"{queue_name}-dlq"


class SqsGateway:
    def __init__(self, client: SQSClient) -> None:
        self._client = client
        self._urls: dict[str, str] = {}
        self._creators: dict[str, Callable[[], str]] = {}
        self._lock = threading.Lock()

    def ensure_queue(self, name_or_url: str, *, dead_letter: bool = False) -> str:
        """The queue's URL, creating it if needed; with ``dead_letter``, one DLQ behind it."""

        def create() -> str:
            return self._create(name_or_url, dead_letter)

        url = create()
        with self._lock:
            self._urls[name_or_url] = url
            self._creators[url] = create
        return url

    def dead_letter_url(self, queue_url: str) -> str | None:
        """The DLQ that a queue's RedrivePolicy names, or None."""
        attributes = aws.call(
            "GetQueueAttributes",
            self._client.get_queue_attributes,
            QueueUrl=queue_url,
            AttributeNames=["RedrivePolicy"],
        ).get("Attributes", {})
        policy = attributes.get("RedrivePolicy")
        if not policy:
            return None
        arn = str(json.loads(policy)["deadLetterTargetArn"])
        return self._url_of(arn.rsplit(":", 1)[-1])

    def _create(self, name_or_url: str, dead_letter: bool) -> str:
        if name_or_url.startswith(("http://", "https://")):
            return name_or_url  # a queue owned elsewhere (another account): use it as given
        attributes: dict[str, str] = {}
        if dead_letter:
            dlq_url = self._create(dead_letter_name(name_or_url), False)
            dlq_arn = aws.call(
                "GetQueueAttributes",
                self._client.get_queue_attributes,
                QueueUrl=dlq_url,
                AttributeNames=["QueueArn"],
            )["Attributes"]["QueueArn"]
            policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(DEFAULT_MAX_RECEIVES)}
            attributes["RedrivePolicy"] = json.dumps(policy)
        try:
            url = self._url_of(name_or_url)
            if attributes:
                aws.call(
                    "SetQueueAttributes",
                    self._client.set_queue_attributes,
                    QueueUrl=url,
                    Attributes=attributes,
                )
            return url
        except UnknownResource:
            response = aws.call(
                "CreateQueue",
                self._client.create_queue,
                QueueName=name_or_url,
                Attributes=attributes,
            )
            _log.info("created queue", queue=name_or_url)
            return response["QueueUrl"]

    def _url_of(self, name: str) -> str:
        return aws.call("GetQueueUrl", self._client.get_queue_url, QueueName=name)["QueueUrl"]

    def _recovering(self, operation: str, url: str, function: Callable[..., T], **kwargs: Any) -> T:
        try:
            return aws.call(operation, function, QueueUrl=url, **kwargs)
        except UnknownResource:
            with self._lock:
                create = self._creators.get(url)
            if create is None:
                raise
            _log.warning("queue missing, creating it again", queue=url)
            return aws.call(operation, function, QueueUrl=create(), **kwargs)

    def receive(
        self, url: str, *, wait_seconds: int = LONG_POLL_SECONDS, max_messages: int = 10
    ) -> list[Message]:
        response = self._recovering(
            "ReceiveMessage",
            url,
            self._client.receive_message,
            WaitTimeSeconds=wait_seconds,
            MaxNumberOfMessages=max_messages,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        return [
            Message(
                body=m.get("Body", ""),
                receipt=m["ReceiptHandle"],
                message_id=m["MessageId"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            )
            for m in response.get("Messages", [])
        ]

    def send(self, url: str, body: str) -> None:
        size = len(body.encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            raise InvalidRequest(
                "SendMessage", "MessageTooLong", f"{size} bytes is over SQS's {MAX_MESSAGE_BYTES}"
            )
        self._recovering("SendMessage", url, self._client.send_message, MessageBody=body)

    def send_json(self, url: str, message: dict[str, Any]) -> None:
        self.send(url, json.dumps(message, separators=(",", ":"), default=str))

    def delete(self, url: str, receipt: str) -> None:
        try:
            aws.call(
                "DeleteMessage", self._client.delete_message, QueueUrl=url, ReceiptHandle=receipt
            )
        except (UnknownResource, InvalidRequest) as exc:
            # A stale receipt means the message was redelivered; the handlers are idempotent.
            _log.warning("delete failed", queue=url, error=exc.code)

    def release(self, url: str, receipt: str) -> None:
        """Make a received message visible again now, for another reader."""
        try:
            aws.call(
                "ChangeMessageVisibility",
                self._client.change_message_visibility,
                QueueUrl=url,
                ReceiptHandle=receipt,
                VisibilityTimeout=0,
            )
        except (UnknownResource, InvalidRequest) as exc:
            # An expired receipt means the message is visible again anyway.
            _log.debug("release failed", queue=url, error=exc.code)

    def purge(self, url: str) -> None:
        aws.call("PurgeQueue", self._client.purge_queue, QueueUrl=url)
