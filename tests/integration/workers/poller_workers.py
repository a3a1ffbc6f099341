"""Activity handlers for the activity-poller integration tests (imported by the real poller)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from cpe import ActivityFailed
from cpe.activities import Context


def steps(value: Any, ctx: Context) -> Any:
    """Every event a task can send, in order."""
    ctx.preparing()
    for percent in range(0, 101, 10):
        ctx.progress(percent)
        time.sleep(0.02)
    ctx.finishing()
    return {"echo": value, "jobId": ctx.job_id, "activityId": ctx.activity_id}


def raises(value: Any, ctx: Context) -> Any:
    raise ValueError("no good")


def deliberate(value: Any, ctx: Context) -> Any:
    raise ActivityFailed("ASSET_CORRUPT", "frame 12 is unreadable")


def exit3(value: Any, ctx: Context) -> Any:
    os._exit(3)


def sigkill(value: Any, ctx: Context) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def hog(value: Any, ctx: Context) -> Any:
    return len(bytearray(2 * 1024 * 1024 * 1024))


def sleeper(value: Any, ctx: Context) -> Any:
    """Sleep ``value["seconds"]`` without ever heartbeating; record pids if asked."""
    _record_pids(value)
    time.sleep(value["seconds"])
    return {"slept": value["seconds"]}


def stubborn(value: Any, ctx: Context) -> Any:
    """Start a grandchild, record both pids, then ignore cancellation and shutdown."""
    _record_pids(value, grandchild=subprocess.Popen(["sleep", "300"]).pid)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(0.05)


def _record_pids(value: Any, grandchild: int | None = None) -> None:
    path = value.get("pid_file") if isinstance(value, dict) else None
    if path:
        pids = {"child": os.getpid(), "grandchild": grandchild}
        Path(path + ".tmp").write_text(json.dumps(pids))
        os.replace(path + ".tmp", path)  # the test reads the file only once it is whole
