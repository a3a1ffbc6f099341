"""The whole stack under supervisord: jobs/s, latency and memory per activity pool size.

    .venv/bin/python benchmarks/stack.py [--jobs 500] [--pools 1 2 4]

For each pool size, a copy of the shipped configuration (supervisord.conf, cpe.yaml, plans/,
examples/) is started with ``supervisord -c`` in a temporary directory, exactly as the
end-to-end tests do (tests/e2e/harness.py: a free port instead of 4566, the pool size through
supervisord.local.conf, 5 s long polls so that each stack stops quickly). ``--jobs`` jobs of
the 3-step example plan plans/csv-report.yaml (validate -> summarize -> archive, real work on
examples/data/sales.csv) are submitted at once through the SDK; latency is submit ->
WORKFLOW_COMPLETED received by the client. Peak RSS is the sum over every process of the stack
(supervisord, emulator, decider, input poller, pollers and their task children), sampled
every 0.2 s. Then the control-plane floor of benchmarks/control_plane.py (one process making
only the necessary SWF/SQS calls for a 3-step job, no-op activities) runs in the same
invocation on its own emulator, for scale.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.harness import SupervisedStack  # noqa: E402

PLAN = "plans/csv-report.yaml"
JOB = "examples/jobs/csv-report.json"


class RssSampler:
    """Peak of the summed RSS of every process of a stack (found by its marker)."""

    def __init__(self, stack: SupervisedStack) -> None:
        self.stack = stack
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            total = 0
            for process in self.stack.stack_processes():
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
            self.peak = max(self.peak, total)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))]


def run_pool(pool_size: int, jobs: int, workdir: Path) -> dict[str, Any]:
    stack = SupervisedStack.prepare(
        workdir, pool_size=pool_size, poll_timeout=5, heartbeat_timeout=30, grace_period=30
    )
    stack.start()
    try:
        with RssSampler(stack) as rss:
            events = stack.events
            submitted: dict[str, float] = {}
            start = time.monotonic()
            for _ in range(jobs):
                job = stack.submit(PLAN, JOB)
                submitted[job] = time.monotonic()
            submit_s = time.monotonic() - start
            finals = events.wait_all_final(list(submitted), timeout=3600)
            elapsed = max(events.final_at.values()) - start
        failed = [j for j, f in finals.items() if f["type"] != "WORKFLOW_COMPLETED"]
        latencies = [events.final_at[j] - t for j, t in submitted.items()]
        return {
            "name": f"stack, pool {pool_size}",
            "jobs": jobs,
            "failed": len(failed),
            "seconds": round(elapsed, 1),
            "jobs_per_s": round(jobs / elapsed, 2),
            "p50_s": round(statistics.median(latencies), 2),
            "p95_s": round(percentile(latencies, 0.95), 2),
            "submit_s": round(submit_s, 1),
            "peak_rss_mb": round(rss.peak / 2**20),
        }
    finally:
        stack.shutdown()
        stack.force_cleanup()


def run_floor(jobs: int, workdir: Path) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(
        "control_plane", REPO / "benchmarks" / "control_plane.py"
    )
    assert spec is not None and spec.loader is not None
    control_plane = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(control_plane)
    with control_plane.emulator(workdir) as endpoint:
        result: dict[str, Any] = control_plane.run_floor(endpoint, jobs)
    result["name"] = "control-plane floor (no-op, 1 process)"
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| run | jobs | jobs/s | p50 latency (s) | p95 latency (s) | peak RSS, whole tree (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        rss = r.get("peak_rss_mb", "—")
        lines.append(
            f"| {r['name']} | {r['jobs']} | {r['jobs_per_s']} | {r['p50_s']} | {r['p95_s']} | {rss} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--pools", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="cpe-bench-stack-") as tmp:
        for pool_size in args.pools:
            workdir = Path(tmp) / f"pool-{pool_size}"
            workdir.mkdir()
            result = run_pool(pool_size, args.jobs, workdir)
            print(result, flush=True)
            results.append(result)
        floor_dir = Path(tmp) / "floor"
        floor_dir.mkdir()
        floor = run_floor(args.jobs, floor_dir)
        print(floor, flush=True)
        results.append(floor)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
