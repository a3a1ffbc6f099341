"""Status answers stay within SWF's read throttles however often clients ask (cpe/status.py).

The service is given a stand-in gateway that counts the reads it is asked for, and the token
bucket a fake clock, so the budgets are checked exactly rather than timed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from cpe import status
from cpe.status import StatusService, TokenBucket
from cpe.swf import ExecutionInfo, WorkflowRef
from tests.support.history import History


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.mark.parametrize(("rate", "burst", "calls"), [(5.0, 10, 60), (2.0, 5, 25), (6.0, 1, 13)])
def test_token_bucket_spends_its_burst_then_keeps_to_its_rate(
    clock: FakeClock, rate: float, burst: int, calls: int
) -> None:
    bucket = TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)
    for _ in range(burst):
        bucket.acquire()
    assert clock.slept == 0.0
    for _ in range(calls - burst):
        bucket.acquire()
    assert clock.slept == pytest.approx((calls - burst) / rate)


class CountingGateway:
    """Answers history and list reads from a fixed run, counting each call."""

    def __init__(self, closed: bool) -> None:
        self.history_reads = 0
        self.list_calls = 0
        events = History()
        events.started({"n": 1})
        if closed:
            events.completed()
        self.events = events.events
        self.info = ExecutionInfo(
            WorkflowRef("demo.job-1", "run-1"),
            ("P", "1"),
            datetime.now(UTC),
            datetime.now(UTC) if closed else None,
            "COMPLETED" if closed else "OPEN",
            ("client:demo",),
        )

    def history(self, ref: WorkflowRef) -> Iterator[dict[str, Any]]:
        self.history_reads += 1
        return iter(self.events)

    def list_executions(self, *, closed: bool, **filters: Any) -> list[ExecutionInfo]:
        self.list_calls += 1
        return [self.info] if closed == (self.info.status != "OPEN") else []


def service(gateway: CountingGateway, cache_seconds: float) -> StatusService:
    return StatusService(gateway, {}, cache_seconds=cache_seconds, retention_days=1)  # type: ignore[arg-type]


def test_repeated_status_of_an_open_job_reads_history_once_per_cache_period() -> None:
    gateway = CountingGateway(closed=False)
    answers = service(gateway, cache_seconds=60)
    for _ in range(100):
        answers.job_summary(gateway.info)
    assert gateway.history_reads == 1
    answers.job_summary(gateway.info, fresh=True)  # a caller that must see the latest
    assert gateway.history_reads == 2


def test_a_closed_job_is_read_once_even_when_asked_fresh() -> None:
    gateway = CountingGateway(closed=True)
    answers = service(gateway, cache_seconds=0)
    for _ in range(50):
        answers.job_summary(gateway.info, fresh=True)
    assert gateway.history_reads == 1


def test_history_reads_for_many_distinct_jobs_wait_for_the_budget(clock: FakeClock) -> None:
    """Without the cache's help (every job different), reads go at HISTORY_READS_PER_SECOND."""
    gateway = CountingGateway(closed=False)
    answers = service(gateway, cache_seconds=0)
    answers._history_bucket = TokenBucket(
        status.HISTORY_READS_PER_SECOND, 10, clock=clock, sleep=clock.sleep
    )
    for index in range(60):
        ref = WorkflowRef(f"demo.job-{index}", f"run-{index}")
        answers.job_summary(
            ExecutionInfo(ref, ("P", "1"), gateway.info.start_time, None, "OPEN", ())
        )
    assert gateway.history_reads == 60
    assert clock.slept == pytest.approx(50 / status.HISTORY_READS_PER_SECOND)


def test_job_lists_are_cached_and_runs_found_once() -> None:
    gateway = CountingGateway(closed=False)
    answers = service(gateway, cache_seconds=60)
    for _ in range(20):
        jobs, _ = answers.job_list("client:demo", 86400.0)
    assert [job["jobId"] for job in jobs] == ["job-1"]
    assert gateway.list_calls == 2  # open + closed, once
    assert answers.find_run("demo.job-1") == gateway.info  # remembered from the list
    assert gateway.list_calls == 2
