"""Status and list answers, cached and rate-limited so clients cannot make us flood SWF.

SWF throttles its read APIs per account (``DescribeWorkflowExecution`` refills at 6/s,
history and list calls have their own buckets). Clients may ask as often as they like, so:

* a job's summary (one ``GetWorkflowExecutionHistory`` read, all pages, folded by
  :func:`cpe.state.fold` and shown by :mod:`cpe.job_summary`) is cached per workflow for
  ``status_cache_seconds``; a closed run never changes, so it is kept until evicted (LRU);
* a client's job list is cached per (client, window) for ``status_cache_seconds``;
* the runId of each workflowId found is remembered (a workflowId has one CPE run);
* on top of the caches, token buckets bound the calls we make per second, whatever the
  number of distinct jobs asked about: a request over the budget waits for a token.

Every answer carries ``asOf``: when the SWF data it shows was read.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from cpe import job_summary
from cpe.messages import job_of_workflow_id
from cpe.plan import Plan
from cpe.state import ExecutionState, fold
from cpe.swf import ExecutionInfo, SwfGateway, WorkflowRef

K = TypeVar("K")
V = TypeVar("V")

HISTORY_READS_PER_SECOND = 5.0  # below the per-account refill of SWF's read APIs
LIST_CALLS_PER_SECOND = 2.0
MAX_EXECUTION_DAYS = 366  # SWF executions last at most a year: open runs started since then
DEFAULT_LIST_WINDOW = 86400.0  # GET_JOB_LIST shows runs closed in the last day by default
MAX_JOBS_FOR_ACTIVITY_LIST = 50


class TokenBucket:
    """``rate`` calls per second with bursts of ``burst``; ``acquire`` waits for a token."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                # A wait of exactly the shortfall can leave the count a rounding error short
                # of 1; without the tolerance that would be a spin of ever tinier sleeps.
                if self._tokens >= 1 - 1e-9:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self._rate
            self._sleep(wait)


class LruCache(Generic[K, V]):
    """A bounded, thread-safe map of key -> (stored_at, value)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, max_age: float | None) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or (max_age is not None and time.monotonic() - item[0] > max_age):
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


@dataclass(frozen=True)
class JobSummary:
    ref: WorkflowRef
    state: ExecutionState
    summary: Mapping[str, Any]
    as_of: float

    @property
    def closed(self) -> bool:
        return self.summary.get("status") != "OPEN"


def _info_to_job(info: ExecutionInfo) -> dict[str, Any]:
    ids = job_of_workflow_id(info.workflow.workflow_id)
    return {
        "jobId": ids[1] if ids else None,
        "workflow": {"workflowId": info.workflow.workflow_id, "runId": info.workflow.run_id},
        "workflowType": {"name": info.workflow_type[0], "version": info.workflow_type[1]},
        "status": info.status,
        "startTime": round(info.start_time.timestamp(), 3),
        "closeTime": round(info.close_time.timestamp(), 3) if info.close_time else None,
    }


class StatusService:
    def __init__(
        self,
        swf: SwfGateway,
        plans: Mapping[tuple[str, str], Plan],
        *,
        cache_seconds: float,
        retention_days: int,
    ) -> None:
        self._swf = swf
        self._plans = plans
        self._cache_seconds = cache_seconds
        self._retention = timedelta(days=retention_days + 1)
        self._runs: LruCache[str, ExecutionInfo] = LruCache(100_000)
        self._summaries: LruCache[str, JobSummary] = LruCache(10_000)
        self._lists: LruCache[tuple[str, float], tuple[list[dict[str, Any]], float]] = LruCache(
            1_000
        )
        self._inputs: LruCache[WorkflowRef, str] = LruCache(10_000)
        self._history_bucket = TokenBucket(HISTORY_READS_PER_SECOND, burst=10)
        self._list_bucket = TokenBucket(LIST_CALLS_PER_SECOND, burst=5)

    # --- runs -----------------------------------------------------------------------

    def find_run(self, workflow_id: str, *, fresh: bool = False) -> ExecutionInfo | None:
        """The CPE run of a workflowId (open first, then closed within retention), or None."""
        if not fresh:
            cached = self._runs.get(workflow_id, None)
            if cached is not None:
                return cached
        now = datetime.now(UTC)
        for closed, since in (
            (False, now - timedelta(days=MAX_EXECUTION_DAYS)),
            (True, now - self._retention),
        ):
            self._list_bucket.acquire()
            found = self._swf.list_executions(closed=closed, since=since, workflow_id=workflow_id)
            if found:
                self.remember_run(found[0])
                return found[0]
        return None

    def earlier_run(self, workflow_id: str) -> ExecutionInfo | None:
        """What a repeated START_JOB must answer with, as far as listing can tell: a cached
        run, or a closed run within retention.

        An open run needs no listing (StartWorkflowExecution itself answers AlreadyExists), so
        this is one call per new job. It does not take from the status answers' budget: that
        budget exists to keep clients' polling cheap, and charging job starts to it capped
        the whole stack at one new job per second. SWF's own throttling, if hit, is absorbed
        by the gateway's backoff.
        """
        cached = self._runs.get(workflow_id, None)
        if cached is not None:
            return cached
        since = datetime.now(UTC) - self._retention
        found = self._swf.list_executions(closed=True, since=since, workflow_id=workflow_id)
        if not found:
            return None
        self.remember_run(found[0])
        return found[0]

    def remember_run(self, info: ExecutionInfo, input_text: str | None = None) -> None:
        self._runs.put(info.workflow.workflow_id, info)
        if input_text is not None:
            self._inputs.put(info.workflow, input_text)

    def started_input(self, info: ExecutionInfo) -> str | None:
        """The input the run was started with, for a repeated START_JOB's answer. It never
        changes, so it is read (one small history page) at most once per run, and not at all
        for a run this poller started. Like ``earlier_run``, a job start: not budgeted."""
        cached = self._inputs.get(info.workflow, None)
        if cached is not None:
            return cached
        text = self._swf.started_input(info.workflow)
        if text is not None:
            self._inputs.put(info.workflow, text)
        return text

    # --- job and activity status ----------------------------------------------------

    def job_summary(self, info: ExecutionInfo, *, fresh: bool = False) -> JobSummary:
        """The run's folded state and summary, from cache when fresh enough (closed runs:
        always); ``fresh`` reads the history again unless the run is known to be closed."""
        key = info.workflow.workflow_id
        cached = self._summaries.get(key, None)
        if self._usable(cached, info, fresh):
            assert cached is not None
            return cached
        self._history_bucket.acquire()
        as_of = round(time.time(), 3)
        state = fold(self._swf.history(info.workflow))
        summary = job_summary.summarize(state, self._plans.get(info.workflow_type))
        read = JobSummary(info.workflow, state, summary, as_of)
        self._summaries.put(key, read)
        return read

    def _usable(self, cached: JobSummary | None, info: ExecutionInfo, fresh: bool) -> bool:
        if cached is None or cached.ref != info.workflow:
            return False
        if cached.closed:
            return True
        return not fresh and time.time() - cached.as_of <= self._cache_seconds

    # --- lists ----------------------------------------------------------------------

    def job_list(self, tag: str, window: float) -> tuple[list[dict[str, Any]], float]:
        """Open and recently closed runs with ``tag`` (newest first), and when they were read."""
        key = (tag, window)
        cached = self._lists.get(key, self._cache_seconds)
        if cached is not None:
            return cached
        now = datetime.now(UTC)
        self._list_bucket.acquire()
        open_runs = self._swf.list_executions(
            closed=False, since=now - timedelta(days=MAX_EXECUTION_DAYS), tag=tag
        )
        self._list_bucket.acquire()
        closed_runs = self._swf.list_executions(
            closed=True, since=now - timedelta(seconds=window), tag=tag
        )
        as_of = round(time.time(), 3)
        for info in open_runs + closed_runs:
            self.remember_run(info)
        jobs = [_info_to_job(info) for info in open_runs + closed_runs]
        self._lists.put(key, (jobs, as_of))
        return jobs, as_of
