"""The Python client SDK: send commands to a CPE stack, read its events back.

    client = Client.from_config()                    # ./cpe.yaml, first configured client
    job_id = client.start_job({"asset": "s3://..."}, workflow=("Transcode", "1.0"))
    final = client.wait(job_id, timeout=600)         # WORKFLOW_COMPLETED / _FAILED / _CANCELED

Commands go out in the original CPE envelope (``time, type, jobId, data``; START_JOB's data
carries ``workflow`` and ``client``), so this SDK and the original PHP one can share a stack.
Events are read from the client's output queue; a reader that filters (one job, one event
type) deletes only what it yields and releases everything else at once for other readers.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cpe import aws, messages
from cpe.config import ClientSettings, Settings, load_settings
from cpe.errors import CommandRejected, ConfigError, CPEError
from cpe.sqs import Message, SqsGateway

Event = dict[str, Any]
Predicate = Callable[[Event], bool]
DEFAULT_TIMEOUT = 30.0
HOLD_SECONDS = 5.0
_IDLE_PAUSE = 0.2  # after a receive that brought only others' events, so readers never spin
_HAND_OVER_PAUSE = 1.0  # after releasing others' events; must exceed _IDLE_PAUSE


class JobTimeout(CPEError, TimeoutError):
    """``wait`` (or a query) saw no matching answer in time."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what = what
        self.timeout = timeout
        super().__init__(f"no {what} within {timeout:g} s")


def workflow_spec(workflow: tuple[str, str] | str) -> tuple[str, str | None]:
    """``("Name", "1.0")``, ``"Name:1.0"`` or ``"Name"`` (version left to resolve)."""
    if isinstance(workflow, tuple):
        return workflow[0], workflow[1]
    name, _, version = workflow.partition(":")
    return name, version or None


class Client:
    def __init__(self, settings: Settings, client: str | None = None) -> None:
        self.settings = settings
        self.config = self._pick(settings, client)
        self._sqs = SqsGateway(aws.sqs_client(settings.aws))
        self._urls: tuple[str, str] | None = None

    @classmethod
    def from_config(cls, path: str | Path | None = None, client: str | None = None) -> Client:
        return cls(load_settings(path), client)

    @staticmethod
    def _pick(settings: Settings, name: str | None) -> ClientSettings:
        if not settings.clients:
            raise ConfigError(str(settings.source), "clients", "no client is configured")
        if name is None:
            return settings.clients[0]
        try:
            return settings.client(name)
        except KeyError:
            known = ", ".join(c.name for c in settings.clients)
            raise ConfigError(
                str(settings.source), "clients", f"no client named {name!r} (configured: {known})"
            ) from None

    @property
    def name(self) -> str:
        return self.config.name

    def _queue_urls(self) -> tuple[str, str]:
        """(input, output) URLs, resolved once (created if missing, as the stack would)."""
        if self._urls is None:
            self._urls = (
                self._sqs.ensure_queue(self.config.input_queue, dead_letter=True),
                self._sqs.ensure_queue(self.config.output_queue),
            )
        return self._urls

    # --- commands ---------------------------------------------------------------------

    def send_command(self, command_type: str, job_id: str | None, data: Mapping[str, Any]) -> None:
        envelope = {
            "time": round(time.time(), 3),
            "type": command_type,
            "jobId": job_id,
            "data": dict(data),
        }
        self._sqs.send_json(self._queue_urls()[0], envelope)

    def start_job(
        self,
        input: Mapping[str, Any],
        workflow: tuple[str, str] | str,
        job_id: str | None = None,
        *,
        execution_timeout: int | None = None,
    ) -> str:
        """Send START_JOB; returns the jobId (a new uuid4 hex unless given)."""
        name, version = workflow_spec(workflow)
        if version is None:
            raise ValueError(
                f"workflow {name!r} needs a version ('Name:version' or (name, version))"
            )
        job_id = job_id or uuid.uuid4().hex
        input_url, output_url = self._queue_urls()
        spec: dict[str, Any] = {
            "name": name,
            "version": version,
            "domain": self.settings.domain,
            "taskList": self.settings.decider_task_list,
        }
        if execution_timeout is not None:
            spec["executionStartToCloseTimeout"] = execution_timeout
        data = {
            **input,
            "workflow": spec,
            "client": {"name": self.name, "queues": {"input": input_url, "output": output_url}},
        }
        self.send_command(messages.START_JOB, job_id, data)
        return job_id

    def cancel_job(self, job_id: str, timeout: float | None = None) -> Event | None:
        """Ask for the job to be cancelled; CANCEL_REQUESTED, then WORKFLOW_CANCELED follow.

        With a ``timeout``, waits for the acknowledgement (raising CommandRejected if the job
        is unknown or already closed) and returns it.
        """
        self.send_command(messages.CANCEL_JOB, job_id, {})
        if timeout is None:
            return None
        return self.answer(job_id, messages.CANCEL_REQUESTED, timeout)

    def cancel_activity(
        self, job_id: str, activity_id: str, timeout: float | None = None
    ) -> Event | None:
        """Ask for one running activity (an activityId, or a step name) to be cancelled.

        ACTIVITY_CANCELED follows from the worker; the step then counts as failed, so the
        plan's failure branches decide what happens next. With a ``timeout``, waits for the
        CANCEL_REQUESTED acknowledgement (CommandRejected if the activity is not open).
        """
        self.send_command(messages.CANCEL_ACTIVITY, job_id, {"activityId": activity_id})
        if timeout is None:
            return None
        return self.answer(job_id, messages.CANCEL_REQUESTED, timeout)

    def job_status(self, job_id: str, timeout: float = DEFAULT_TIMEOUT) -> Event:
        """The JOB_STATUS answer (raises CommandRejected if the stack refused the query)."""
        self.send_command(messages.GET_JOB_STATUS, job_id, {})
        return self.answer(job_id, messages.JOB_STATUS, timeout)

    def activity_status(
        self, job_id: str, activity_id: str, timeout: float = DEFAULT_TIMEOUT
    ) -> Event:
        self.send_command(messages.GET_ACTIVITY_STATUS, job_id, {"activityId": activity_id})
        return self.answer(job_id, messages.ACTIVITY_STATUS, timeout)

    def list_jobs(
        self,
        status: str = "all",
        since_seconds: float | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[dict[str, Any]]:
        """This client's open and recently closed jobs, newest first."""
        data: dict[str, Any] = {"status": status}
        if since_seconds is not None:
            data["sinceSeconds"] = since_seconds
        self.send_command(messages.GET_JOB_LIST, None, data)
        answer = self.answer(None, messages.JOB_LIST, timeout)
        return list(answer["data"]["jobs"])

    def answer(self, job_id: str | None, answer_type: str, timeout: float) -> Event:
        """The next ``answer_type`` event for ``job_id``; raises CommandRejected or JobTimeout."""

        def wanted(event: Event) -> bool:
            if event.get("jobId") != job_id:
                return False
            return event.get("type") in (answer_type, messages.COMMAND_REJECTED)

        for event in self._matching(wanted, timeout):
            if event["type"] == messages.COMMAND_REJECTED:
                raise CommandRejected(event["reason"], event.get("details", ""), job_id)
            return event
        raise JobTimeout(f"{answer_type} answer for job {job_id}", timeout)

    # --- events -----------------------------------------------------------------------

    def events(
        self,
        job_id: str | None = None,
        wait: float | None = 20.0,
        *,
        include_answers: bool = False,
    ) -> Iterator[Event]:
        """Decoded events (of one job if given) for up to ``wait`` seconds (None: forever).

        Each event is deleted from the queue once the loop body asked for the next one (or
        stopped); events of other jobs are put back for other readers. Answers to queries
        and cancels (JOB_STATUS, CANCEL_REQUESTED, ...) are left to whoever asked for them
        unless ``include_answers``.
        """

        def wanted(event: Event) -> bool:
            if job_id is not None and event.get("jobId") != job_id:
                return False
            return include_answers or event.get("type") not in messages.ANSWER_EVENTS

        return self._matching(wanted, wait)

    def wait(self, job_id: str, timeout: float) -> Event:
        """The job's final event (WORKFLOW_COMPLETED, _FAILED or _CANCELED)."""
        for event in self.events(job_id, wait=timeout):
            if event.get("type") in messages.FINAL_EVENTS:
                return event
        raise JobTimeout(f"final event for job {job_id}", timeout)

    def _matching(self, wanted: Predicate, wait: float | None) -> Iterator[Event]:
        output_url = self._queue_urls()[1]
        deadline = None if wait is None else time.monotonic() + wait
        others = _HeldMessages(self._sqs, output_url)
        yielded: str | None = None  # the receipt of the event the caller holds
        try:
            while deadline is None or time.monotonic() < deadline:
                if others.hand_over_due():
                    others.release_all()
                    # Readers waiting for what we held are long-polling (woken by the
                    # release) or at most _IDLE_PAUSE from their next receive: stepping
                    # back longer than that hands the messages to them, not to us again.
                    time.sleep(_HAND_OVER_PAUSE)
                left = 20.0 if deadline is None else deadline - time.monotonic()
                # A long poll must not outlast the hold: others' messages would stay hidden
                # until it returned. Whole seconds, rounded up, so a short wait never spins.
                wait_seconds = math.ceil(max(0.0, min(20.0, left, others.until_hand_over())))
                batch = self._sqs.receive(output_url, wait_seconds=wait_seconds)
                found = False
                for message in batch:
                    event = _decode(message)
                    if event is None or not wanted(event):
                        others.hold(message.receipt)
                        continue
                    found = True
                    yielded = message.receipt
                    yield event
                    self._sqs.delete(output_url, message.receipt)
                    yielded = None
                if batch and not found:
                    time.sleep(_IDLE_PAUSE)
        finally:  # also on GeneratorExit: the caller stopped after taking an event
            if yielded is not None:
                self._sqs.delete(output_url, yielded)
            others.release_all()


class _HeldMessages:
    """Other readers' messages that one reader keeps invisible while it reads on.

    Holding them lets the reader see past the queue's oldest messages (SQS hands out at most
    ten per receive). They are released together, at most HOLD_SECONDS after the first was
    taken, so each reader's messages wait at most that long for it.
    """

    def __init__(self, sqs: SqsGateway, url: str) -> None:
        self._sqs = sqs
        self._url = url
        self._receipts: list[str] = []
        self._since = 0.0

    def hold(self, receipt: str) -> None:
        if not self._receipts:
            self._since = time.monotonic()
        self._receipts.append(receipt)

    def until_hand_over(self) -> float:
        if not self._receipts:
            return math.inf
        return self._since + HOLD_SECONDS - time.monotonic()

    def hand_over_due(self) -> bool:
        return self.until_hand_over() <= 0

    def release_all(self) -> None:
        receipts, self._receipts = self._receipts, []
        for receipt in receipts:
            self._sqs.release(self._url, receipt)


def _decode(message: Message) -> Event | None:
    event = messages.decode_json(message.body)
    return event if isinstance(event, dict) else None
