"""``cpe input-poller``: client commands in from SQS, workflows started in SWF, answers out.

One process serves every configured client (``--client NAME`` limits it), with one thread per
client input queue. Why threads rather than a round-robin over the queues: each thread keeps
a full 20 s long poll on its own queue, so an idle stack makes one ReceiveMessage per queue
per 20 s (a round-robin would need short waits, hence many more empty, billed receives, or
add up to 20 s of latency per extra queue), and a slow command of one client never delays
another. Threads share only thread-safe things: the boto3 clients and the status caches.

Each command's life: parse and validate → handle (CommandHandlers) → send the answer to the
client's configured output queue → delete. A command that is invalid in any way is answered
with COMMAND_REJECTED and its body copied to the input queue's dead-letter queue before it is
deleted. A command whose handling hits a transient AWS error is left on the queue: SQS makes
it visible again after the visibility timeout and the idempotent handlers run it again.

Signals: the first TERM (or INT) lets each thread finish the message in hand, then exits 0;
messages received but not yet handled reappear on the queue after the visibility timeout.
A second signal exits at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from functools import partial
from types import FrameType
from typing import Any

from cpe import aws, log, messages
from cpe.backoff import Backoff
from cpe.commands import ClientQueues
from cpe.config import ClientSettings, Settings, load_settings
from cpe.errors import AWSError, CommandRejected, ConfigError, PlanError
from cpe.handlers import CommandHandlers
from cpe.plan import Plan, load_plans
from cpe.sqs import Message, SqsGateway, dead_letter_name
from cpe.status import StatusService
from cpe.swf import SwfGateway

_log = log.get("cpe.input_poller")
WAIT_SECONDS = 20


class ClientWorker:
    """Serves one client's input queue: a loop of long polls, one command at a time."""

    def __init__(
        self,
        client: ClientQueues,
        sqs: SqsGateway,
        handlers: CommandHandlers,
        stopping: threading.Event,
    ) -> None:
        self.client = client
        self._sqs = sqs
        self._handlers = handlers
        self._stopping = stopping
        self.busy = threading.Lock()  # held while a message is in hand; TERM waits on it
        self._backoff = Backoff(base=0.5, cap=30.0)

    def run(self) -> None:
        while not self._stopping.is_set():
            self.tick()

    def tick(self) -> None:
        """One long poll and the messages it brought; never raises."""
        try:
            batch = self._sqs.receive(self.client.input_url, wait_seconds=WAIT_SECONDS)
        except AWSError as error:
            self._pause("receive failed", error)
            return
        except Exception:  # the loop boundary: log, back off, keep serving
            _log.exception("unexpected error while receiving", client=self.client.name)
            self._pause("receive failed", None)
            return
        for message in batch:
            with self.busy:
                if self._stopping.is_set():
                    return
                if not self.process(message):
                    self._pause("command left for redelivery", None)
                    return
        self._backoff.reset()

    def _pause(self, what: str, error: AWSError | None) -> None:
        delay = self._backoff.next_delay()
        _log.warning(
            what,
            client=self.client.name,
            error=str(error) if error else None,
            retry_in=f"{delay:.1f}s",
        )
        self._stopping.wait(delay)

    def process(self, message: Message) -> bool:
        """Handle one message; False when it was left on the queue (transient AWS error)."""
        command: messages.Command | None = None
        try:
            command = messages.parse_command(message.body)
            answer = self._handlers.handle(command, self.client)
            self._sqs.send_json(self.client.output_url, answer)
            self._sqs.delete(self.client.input_url, message.receipt)
            self._log(command, answer["type"])
            return True
        except CommandRejected as rejection:
            return self._reject(message, command, rejection)
        except AWSError as error:
            self._log(command, "left-for-redelivery", error=str(error))
            return False
        except Exception as error:  # a bug must not stop the daemon: reject, keep the body
            _log.exception("command failed", client=self.client.name, messageId=message.message_id)
            detail = f"{type(error).__name__}: {error}"
            internal = CommandRejected(messages.INTERNAL_ERROR, detail, _job_id(command))
            return self._reject(message, command, internal)

    def _reject(
        self, message: Message, command: messages.Command | None, rejection: CommandRejected
    ) -> bool:
        job_id = rejection.job_id or _job_id(command)
        answer = messages.command_rejected(job_id, rejection.reason, rejection.details)
        try:
            self._sqs.send(self.client.dead_letter_url, message.body)
            self._sqs.send_json(self.client.output_url, answer)
            self._sqs.delete(self.client.input_url, message.receipt)
        except AWSError as error:
            self._log(command, "rejection-not-sent", error=str(error))
            return False
        _log.info(
            "command",
            client=self.client.name,
            jobId=job_id,
            type=command.type if command else None,
            outcome=f"REJECTED:{rejection.reason}",
            details=rejection.details[:300],
        )
        return True

    def _log(self, command: messages.Command | None, outcome: str, **extra: Any) -> None:
        _log.info(
            "command",
            client=self.client.name,
            jobId=_job_id(command),
            type=command.type if command else None,
            outcome=outcome,
            **extra,
        )


def _job_id(command: messages.Command | None) -> str | None:
    return command.job_id if command is not None else None


# --- start-up -----------------------------------------------------------------------


def _retrying(what: str, stopping: threading.Event, action: Callable[[], Any]) -> Any:
    """Run a start-up step until it succeeds: the endpoint may come up after us."""
    backoff = Backoff(base=0.5, cap=30.0)
    while not stopping.is_set():
        try:
            return action()
        except AWSError as error:
            delay = backoff.next_delay()
            _log.warning(f"{what} failed", error=str(error), retry_in=f"{delay:.1f}s")
            stopping.wait(delay)
    return None


def _client_queues(sqs: SqsGateway, client: ClientSettings) -> ClientQueues:
    input_url = sqs.ensure_queue(client.input_queue, dead_letter=True)
    output_url = sqs.ensure_queue(client.output_queue)
    dead_letter_url = sqs.dead_letter_url(input_url) or sqs.ensure_queue(
        dead_letter_name(client.name + "-rejected")
    )
    return ClientQueues(client, input_url, output_url, dead_letter_url)


def _register(swf: SwfGateway, settings: Settings, plans: dict[tuple[str, str], Plan]) -> None:
    # The decider registers these too; doing it here means a job can be started (and waits
    # in SWF) even before the first decider comes up.
    swf.ensure_domain(settings.domain_retention_days)
    for plan in plans.values():
        swf.ensure_workflow_type(
            plan.name,
            plan.version,
            task_list=settings.decider_task_list,
            execution_timeout=plan.default_execution_start_to_close_timeout,
            task_timeout=plan.default_task_start_to_close_timeout,
        )


def _selected_clients(settings: Settings, names: Sequence[str]) -> list[ClientSettings]:
    if not settings.clients:
        raise ConfigError(str(settings.source), "clients", "no client is configured")
    if not names:
        return list(settings.clients)
    try:
        return [settings.client(name) for name in names]
    except KeyError as missing:
        raise ConfigError(
            str(settings.source), "clients", f"no client named {missing.args[0]!r}"
        ) from None


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cpe input-poller", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="stack configuration (default: $CPE_CONFIG or ./cpe.yaml)")
    parser.add_argument(
        "--client", action="append", default=[], help="serve only this client (repeatable)"
    )
    log.add_level_argument(parser)
    return parser.parse_args(list(argv))


def _install_signals(stopping: threading.Event) -> None:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            _log.warning("second signal: exiting now")
            raise SystemExit(1)
        _log.info("stopping after the current command", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    log.setup(args.log_level)
    stopping = threading.Event()
    _install_signals(stopping)
    try:
        settings = load_settings(args.config)
        plans = load_plans(settings.plans)
        selected = _selected_clients(settings, args.client)
        return serve(settings, plans, selected, stopping)
    except (ConfigError, PlanError) as error:  # serve's only ConfigError: building AWS clients
        print(f"cpe input-poller: {error}", file=sys.stderr)
        return 2


def serve(
    settings: Settings,
    plans: dict[tuple[str, str], Plan],
    clients: Sequence[ClientSettings],
    stopping: threading.Event,
) -> int:
    swf = SwfGateway(aws.swf_client(settings.aws), settings.domain)
    sqs = SqsGateway(aws.sqs_client(settings.aws))
    _retrying(
        "registering domain and workflow types", stopping, lambda: _register(swf, settings, plans)
    )
    queues: list[ClientQueues] = []
    for client in clients:
        ensured = _retrying("creating queues", stopping, partial(_client_queues, sqs, client))
        if ensured is not None:
            queues.append(ensured)
    if stopping.is_set():
        return 0
    status = StatusService(
        swf,
        plans,
        cache_seconds=settings.status_cache_seconds,
        retention_days=settings.domain_retention_days,
    )
    handlers = CommandHandlers(
        swf, status, plans, domain=settings.domain, decider_task_list=settings.decider_task_list
    )
    workers = [ClientWorker(q, sqs, handlers, stopping) for q in queues]
    for worker in workers:
        threading.Thread(
            target=worker.run, name=f"client-{worker.client.name}", daemon=True
        ).start()
        _log.info("serving", client=worker.client.name, queue=worker.client.input_url)
    while not stopping.wait(1.0):
        pass
    for worker in workers:
        with worker.busy:  # the command in hand is finished before we go
            pass
    _log.info("stopped")
    return 0
