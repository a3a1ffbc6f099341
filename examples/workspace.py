"""Where the example activities read and write, shared by every example module.

Task children run in a private temporary directory (see cpe/runner.py), so relative paths in
job inputs are resolved against the checkout that holds ``examples/`` (the stack's directory),
and everything an activity produces goes under ``var/output/<jobId>/`` there. Each execution
is also appended to that job's ``ledger.jsonl``: an audit trail of what ran, which the
end-to-end tests use to prove that no step ran twice.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from cpe import ActivityFailed
from cpe.activities import Context

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_ROOT = ROOT / "var" / "output"
_ATTEMPT = re.compile(r"#(\d+)$")
T = TypeVar("T")


def resolve(path: str) -> Path:
    """An input path: absolute as given, relative to the stack's directory otherwise."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else ROOT / candidate


def existing_file(path: str) -> Path:
    resolved = resolve(path)
    if not resolved.is_file():
        raise ActivityFailed("FILE_NOT_FOUND", f"no such file: {resolved}")
    return resolved


def job_dir(ctx: Context) -> Path:
    """This job's output directory (created on first use)."""
    directory = OUTPUT_ROOT / (ctx.job_id or ctx.workflow_id)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def attempt(ctx: Context) -> int:
    """Which attempt of its step this task is: retries get activityId ``<step>#<n>``."""
    match = _ATTEMPT.search(ctx.activity_id)
    return int(match.group(1)) if match else 1


def record(ctx: Context, activity: str, **fields: Any) -> None:
    """Append one line per execution to the job's ledger (O_APPEND: safe across processes)."""
    line = {"time": time.time(), "activity": activity, "activityId": ctx.activity_id, **fields}
    data = (json.dumps(line, sort_keys=True) + "\n").encode()
    fd = os.open(job_dir(ctx) / "ledger.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def paced(items: Iterable[T], ctx: Context, pace_seconds: float = 0.0) -> Iterator[T]:
    """Yield ``items`` reporting percent progress; ``pace_seconds`` spreads them over time.

    Pacing exists so that a person running ``cpe watch`` (or a fault-injection test) can see
    a task in flight; the default 0 runs at full speed.
    """
    listed = list(items)
    total = max(len(listed), 1)
    delay = pace_seconds / total if pace_seconds > 0 else 0.0
    for index, item in enumerate(listed, start=1):
        yield item
        if delay:
            time.sleep(delay)
        ctx.progress(round(100 * index / total))
