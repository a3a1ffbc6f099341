"""Exactly-once delivery with several poller processes on one task list.

SWF hands each task to exactly one poller
(https://docs.aws.amazon.com/amazonswf/latest/developerguide/swf-dg-dev-actors.html);
stock moto, with no lock on its SWF backend, hands 0.5-10 % of tasks to two pollers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.emulator.conftest import ACTIVITIES, DECISIONS, Swf, schedule

WORKER = Path(__file__).with_name("poller_worker.py")
PROCESSES = 4


def run_pollers(swf: Swf, kind: str, task_list: str) -> Counter[str]:
    command = [sys.executable, str(WORKER), swf.emulator.endpoint_url, kind, swf.domain, task_list]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(PROCESSES)
    ]
    seen: Counter[str] = Counter()
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        seen.update(json.loads(out))
    return seen


def test_activity_tasks_delivered_exactly_once(swf: Swf) -> None:
    """4 processes polling one activity task list for 1,000 tasks: each task delivered once."""
    runs = [swf.start() for _ in range(10)]
    for _ in runs:
        token = swf.poll_decision()["taskToken"]
        swf.decide(token, *[schedule(f"a{index}") for index in range(100)])
    seen = run_pollers(swf, "activity", ACTIVITIES)
    assert len(seen) == 1000
    assert max(seen.values()) == 1
    for run in runs:
        assert swf.types(run).count("ActivityTaskCompleted") == 100


def test_decision_tasks_delivered_exactly_once(swf: Swf) -> None:
    """4 processes polling one decision task list for 500 runs: each run decided once."""
    runs = [swf.start() for _ in range(500)]
    seen = run_pollers(swf, "decision", DECISIONS)
    assert set(seen) == {run["runId"] for run in runs}
    assert max(seen.values()) == 1
    closed = swf.client.get_paginator("list_closed_workflow_executions").paginate(
        domain=swf.domain, startTimeFilter={"oldestDate": 0}
    )
    assert sum(len(page["executionInfos"]) for page in closed) == 500
