"""``cpe decider``: the daemon that replays each run's history against its plan and decides.

One process serves every plan of the configuration from one decision task list. Each
``tick()`` handles at most one decision task:

1. long-poll the task list (incremental history: only the events since the last decision);
2. route by workflow type to its plan (an unknown type fails that workflow, never the daemon);
3. fold the new events onto the run's cached state, or the whole paged history when the
   cache misses or the slice does not join it (cpe.decider_cache);
4. ``decide(plan, state)`` (pure) and respond;
5. only once SWF accepted the decisions, tell the job's client (cpe.decider_notify).

Idempotency comes from SWF, not from us: decisions are a function of the history alone, and a
step counts as scheduled once its ActivityTaskScheduled event exists, so a redelivered task or
a restart decides the same thing. The cache is only a shortcut for that replay.

Errors: AWS trouble at the loop boundary backs off (bounded, jittered), logged once per change
of health; any other exception while deciding one task is a bug or a bad plan value: it is
logged with the ids and *fails that workflow* with reason ``DECIDER_ERROR`` (a deterministic
failure would otherwise repeat on every redelivery, invisibly, until the run times out).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import time
import traceback
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from cpe import aws, decider_cache, decider_notify, log, messages
from cpe.backoff import Backoff
from cpe.config import Settings, load_settings
from cpe.decide import decide
from cpe.decider_notify import Job
from cpe.errors import (
    AWSError,
    CPEError,
    EndpointUnavailable,
    InvalidRequest,
    Throttled,
    UnknownResource,
)
from cpe.plan import Plan, load_plans
from cpe.sqs import SqsGateway
from cpe.state import activity_id
from cpe.swf import MAX_DETAILS, MAX_REASON, DecisionTask, SwfGateway, clip

_log = log.get("cpe.decider")

UNKNOWN_WORKFLOW_TYPE = "UNKNOWN_WORKFLOW_TYPE"
DECIDER_ERROR = "DECIDER_ERROR"
OUTBOX_LIMIT = 10_000


class StopFlag:
    """First TERM/INT: finish the current decision task and exit 0. Second: exit at once."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            os._exit(1)  # the operator insists; SWF re-delivers whatever task was in flight
        self.requested = True

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake within 0.2 s of a stop request."""
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))


class Health:
    """Backoff while the endpoint fails; one log line per change between up and down."""

    def __init__(self) -> None:
        self.backoff = Backoff(base=0.5, cap=30.0)
        self.down = False

    def failed(self, error: AWSError) -> float:
        delay = self.backoff.next_delay()
        if not self.down:
            _log.warning(
                "endpoint unavailable, backing off",
                operation=error.operation,
                error=error.code,
                detail=error.message,
            )
        else:
            _log.debug("still unavailable", error=error.code, delay=f"{delay:.1f}")
        self.down = True
        return delay

    def succeeded(self) -> None:
        if self.down:
            _log.info("endpoint available again")
        self.down = False
        self.backoff.reset()


@dataclass(frozen=True)
class Notice:
    client: str
    body: dict[str, Any]

    @property
    def ids(self) -> dict[str, Any]:
        workflow = self.body.get("data", {}).get("workflow", {})
        return {
            "workflowId": workflow.get("workflowId"),
            "runId": workflow.get("runId"),
            "jobId": self.body.get("jobId"),
        }


class Outbox:
    """Client events waiting to be sent; kept across an endpoint outage, in order, bounded."""

    def __init__(self, sqs: SqsGateway, settings: Settings) -> None:
        self._sqs = sqs
        self._settings = settings
        self._urls: dict[str, str] = {}
        self._pending: deque[Notice] = deque()

    def add(self, client: str, bodies: Sequence[dict[str, Any]]) -> None:
        for body in bodies:
            if len(self._pending) >= OUTBOX_LIMIT:
                dropped = self._pending.popleft()
                _log.error(
                    "outbox full, dropping event",
                    client=dropped.client,
                    type=dropped.body.get("type"),
                    **dropped.ids,
                )
            self._pending.append(Notice(client, body))

    def flush(self) -> None:
        """Send in order; an AWS error leaves the rest queued for the next tick."""
        while self._pending:
            notice = self._pending[0]
            try:
                self._sqs.send_json(self._url(notice.client), notice.body)
                _log.info(
                    "sent",
                    type=notice.body.get("type"),
                    client=notice.client,
                    **notice.ids,
                )
            except InvalidRequest as exc:  # too large or refused: retrying cannot help
                _log.error(
                    "event refused",
                    client=notice.client,
                    **notice.ids,
                    error=str(exc),
                )
            self._pending.popleft()

    def _url(self, client: str) -> str:
        if client not in self._urls:
            queue = self._settings.client(client).output_queue
            self._urls[client] = self._sqs.ensure_queue(queue)
        return self._urls[client]


class Decider:
    def __init__(
        self,
        settings: Settings,
        plans: Mapping[tuple[str, str], Plan],
        swf: SwfGateway,
        sqs: SqsGateway,
        identity: str,
        cache_size: int = 1000,
    ) -> None:
        self.settings = settings
        self.plans = dict(plans)
        self.swf = swf
        self.identity = identity
        self.cache = decider_cache.RunCache(cache_size)
        self.outbox = Outbox(sqs, settings)
        self._registered = False
        self._clients = {client.name for client in settings.clients}

    # --- start-up -------------------------------------------------------------------

    def register(self) -> None:
        """Domain, workflow types and activity types with the plans' timeouts (idempotent)."""
        if self._registered:
            return
        self.swf.ensure_domain(self.settings.domain_retention_days)
        for plan in self.plans.values():
            self.swf.ensure_workflow_type(
                plan.name,
                plan.version,
                task_list=self.settings.decider_task_list,
                execution_timeout=plan.default_execution_start_to_close_timeout,
                task_timeout=plan.default_task_start_to_close_timeout,
            )
            for spec in plan.activities.values():
                self.swf.ensure_activity_type(
                    spec.name,
                    spec.version,
                    task_list=spec.task_list,
                    heartbeat_timeout=spec.heartbeat_timeout,
                    schedule_to_close_timeout=spec.schedule_to_close_timeout,
                    schedule_to_start_timeout=spec.schedule_to_start_timeout,
                    start_to_close_timeout=spec.start_to_close_timeout,
                )
        self._registered = True
        _log.info(
            "serving",
            plans=", ".join(_plan_names(self.plans)),
            taskList=self.settings.decider_task_list,
        )

    # --- the loop -------------------------------------------------------------------

    def run(self, stop: StopFlag) -> None:
        health = Health()
        while not stop.requested:
            try:
                self.register()
                self.outbox.flush()
                self.tick()
                self.outbox.flush()
                health.succeeded()
            except AWSError as exc:
                stop.sleep(health.failed(exc))
            except Exception:  # the loop boundary: a bug outside deciding must not kill us
                _log.exception("unexpected error in the decider loop")
                stop.sleep(health.backoff.next_delay())

    def tick(self) -> bool:
        """Handle at most one decision task; returns whether there was one."""
        task = self.swf.poll_decision(
            self.settings.decider_task_list, self.identity, incremental=True
        )
        if task is None:
            return False
        self.handle(task)
        return True

    def handle(self, task: DecisionTask) -> None:
        ids = _ids(task)
        _log.debug(
            "decision task", events=len(task.events), startedEventId=task.started_event_id, **ids
        )
        decisions, run = self._decide(task, ids)
        accepted = self._respond(task, decisions, ids)
        if accepted is None:
            return
        _log.info("decided", decisions=_summary(accepted), **ids)
        if decider_notify.closes(accepted):
            self.cache.evict(task.workflow.run_id)
        try:
            self._notify(task, accepted, run)
        except Exception:  # SWF has the decisions; a bug here costs events, not the job
            _log.exception("building the client events failed", **ids)

    def _respond(
        self, task: DecisionTask, decisions: list[dict[str, Any]], ids: Mapping[str, str]
    ) -> list[dict[str, Any]] | None:
        """The decisions SWF took, or None when it took none (nobody is told of those)."""
        try:
            self.swf.respond_decision(task.token, decisions)
            return decisions
        except UnknownResource as exc:
            # A stale token: the task timed out and went to another decider, or the run closed.
            self.cache.evict(task.workflow.run_id)
            _log.warning("decisions refused", error=exc.code, detail=exc.message, **ids)
            return None
        except (EndpointUnavailable, Throttled):
            raise  # transient: the loop backs off and SWF hands the task out again
        except AWSError as exc:
            # Our decisions are malformed (a bug, a limit; botocore checks some before sending):
            # replaying the task would repeat it forever, so fail the workflow instead.
            self.cache.evict(task.workflow.run_id)
            _log.error("decisions rejected; failing the workflow", detail=str(exc), **ids)
            reason = f"{DECIDER_ERROR}: SWF rejected the decisions ({exc.code})"
            failure = [_fail(reason, f"{exc.message}\ndecisions: {_summary(decisions)}")]
            self.swf.respond_decision(task.token, failure)
            return failure

    def _decide(
        self, task: DecisionTask, ids: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], decider_cache.CachedRun | None]:
        plan = self.plans.get(task.workflow_type)
        if plan is None:
            _log.error("unknown workflow type", workflowType=":".join(task.workflow_type), **ids)
            return [_fail(*self._unknown_type(task.workflow_type))], None
        try:
            run = self._advance(task, ids)
            return list(decide(plan, run.state)), run
        except AWSError:
            raise  # endpoint trouble: leave the task to time out and come back
        except Exception as exc:  # a bug or a bad plan value must not kill the daemon
            self.cache.evict(task.workflow.run_id)
            _log.exception("deciding failed; failing the workflow", error=type(exc).__name__, **ids)
            reason = f"{DECIDER_ERROR}: {type(exc).__name__}: {exc}"
            return [_fail(reason, traceback.format_exc())], None

    def _advance(self, task: DecisionTask, ids: Mapping[str, str]) -> decider_cache.CachedRun:
        prior = self.cache.get(task.workflow.run_id)

        def full_history() -> list[dict[str, Any]]:
            events = [
                e for e in self.swf.history(task.workflow) if e["eventId"] <= task.started_event_id
            ]
            _log.info("read full history", events=len(events), cached=prior is not None, **ids)
            return events

        run, _ = decider_cache.advance(prior, task.events, full_history)
        self.cache.put(task.workflow.run_id, run)
        return run

    def _unknown_type(self, workflow_type: tuple[str, str]) -> tuple[str, str]:
        name, version = workflow_type
        served = ", ".join(_plan_names(self.plans)) or "none"
        reason = (
            f"{UNKNOWN_WORKFLOW_TYPE}: no plan for workflow type {name!r} version {version!r};"
            f" serving: {served}"
        )  # clipped to SWF's 256 characters; the details always carry the whole list
        return reason, f"this decider serves: {served}"

    # --- notifications --------------------------------------------------------------

    def _notify(
        self,
        task: DecisionTask,
        decisions: Sequence[dict[str, Any]],
        run: decider_cache.CachedRun | None,
    ) -> None:
        owner = messages.job_of_workflow_id(task.workflow.workflow_id)
        if owner is None or owner[0] not in self._clients:
            return  # not a CPE job (or its client is not configured): nobody to tell
        client, job_id = owner
        job = Job(job_id, task.workflow.workflow_id, task.workflow.run_id)
        new_events = decider_cache.fresh_events(task.events, task.previous_started_event_id)
        plan = self.plans.get(task.workflow_type)
        bodies = decider_notify.for_timeouts(job, new_events, run.scheduled if run else {})
        bodies += decider_notify.for_decisions(
            job, decisions, new_events, lambda control: _retry_target(plan, control)
        )
        self.outbox.add(client, bodies)


def _retry_target(
    plan: Plan | None, control: Mapping[str, Any]
) -> tuple[str, tuple[str, str]] | None:
    """The activityId and type a retry timer will schedule (ids as cpe.decide makes them)."""
    step = plan.step_by_name.get(str(control.get("step"))) if plan else None
    if plan is None or step is None:
        return None
    spec = plan.activity_of(step)
    item, attempt = control.get("item"), control.get("attempt", 1)
    next_id = activity_id(step.name, item if isinstance(item, int) else None, int(attempt or 1))
    return next_id, (spec.name, spec.version)


def _fail(reason: str, details: str) -> dict[str, Any]:
    return {
        "decisionType": "FailWorkflowExecution",
        "failWorkflowExecutionDecisionAttributes": {
            "reason": clip(reason, MAX_REASON),
            "details": clip(details, MAX_DETAILS),
        },
    }


def _ids(task: DecisionTask) -> dict[str, str]:
    ids = {"workflowId": task.workflow.workflow_id, "runId": task.workflow.run_id}
    owner = messages.job_of_workflow_id(task.workflow.workflow_id)
    if owner is not None:
        ids["jobId"] = owner[1]
    return ids


def _summary(decisions: Sequence[Mapping[str, Any]]) -> str:
    return ",".join(str(d["decisionType"]) for d in decisions) or "none"


def _plan_names(plans: Mapping[tuple[str, str], Plan]) -> list[str]:
    return [f"{name} {version}" for name, version in sorted(plans)]


# --- command line -----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cpe decider", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--config", help="stack configuration (default: $CPE_CONFIG or ./cpe.yaml)")
    parser.add_argument("--identity", help="SWF poller identity (default: decider-<host>-<pid>)")
    log.add_level_argument(parser)
    parser.add_argument(
        "--cache-size", type=int, default=1000, help="runs whose state is kept in memory (LRU)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log.setup(args.log_level)
    try:
        settings = load_settings(args.config)
        plans = load_plans(settings.plans)
        swf = SwfGateway(aws.swf_client(settings.aws), settings.domain)
        sqs = SqsGateway(aws.sqs_client(settings.aws))
    except CPEError as exc:  # configuration, plans and credentials are checked once, at start-up
        _log.error("cannot start", error=str(exc))
        return 2
    identity = args.identity or f"decider-{socket.gethostname()}-{os.getpid()}"
    decider = Decider(settings, plans, swf, sqs, identity, args.cache_size)
    stop = StopFlag()
    stop.install()
    _log.info("decider starting", identity=identity, domain=settings.domain, plans=len(plans))
    decider.run(stop)
    _log.info("decider stopped", identity=identity)
    return 0
