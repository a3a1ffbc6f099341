"""Per-task overhead of the process-per-task runner (issue 5).

Runs an empty handler N times each way and prints median and p90 wall time per task, and the
mean CPU time per task (parent and child; for forkserver the server's share is not counted):

* ``in-process``     the handler called directly (decode input, call, encode result);
* ``fork+waitpid``   a bare ``os.fork()`` whose child ``_exit(0)``s, reaped with ``waitpid``;
* ``runner (fork)``  what the poller does: ``Child.start`` + ``supervise`` (temp dir, pipe,
                     setsid, std stream files, JSON result, cleanup of dir and group);
* ``spawn`` and ``forkserver``  the alternatives, as ``multiprocessing`` processes that run the
                     handler and send its result back over a pipe (the least a runner built on
                     them would cost, since it would also need the runner's isolation work).

Usage::

    .venv/bin/python benchmarks/task_overhead.py [--tasks 200] [--no-alternatives]

Pre-imports boto3 and the gateways first, so the forking parent is as big as a real poller.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cpe.activity_poller  # noqa: F401  (the real poller's imports: boto3, gateways)
from cpe.activities import Context, TaskIds
from cpe.runner import Child, Completed, Policy, Shutdown, Task, supervise

IDS = TaskIds("job", "client.job", "run", "Step")
INPUT = json.dumps({"asset": "s3://bucket/key", "options": {"preset": "720p"}})


def empty(value: Any, ctx: Context) -> Any:
    return {"ok": True}


class _NoHooks:
    def preparing(self) -> None: ...

    def progress(self, value: Any) -> None: ...

    def finishing(self) -> None: ...

    def heartbeat(self, details: str) -> bool:
        return False


class _NoReporter:
    def send(self, message: dict[str, Any]) -> None: ...


def in_process() -> None:
    value = json.loads(INPUT)
    json.dumps(empty(value, Context(IDS, _NoReporter(), lambda: False)))


def bare_fork() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


POLICY = Policy(heartbeat_interval=20.0)


def runner_fork() -> None:
    outcome = supervise(
        Child.start(Task(IDS, INPUT, handler=empty)), _NoHooks(), POLICY, Shutdown()
    )
    assert isinstance(outcome, Completed), outcome


def _mp_child(conn: Connection) -> None:
    conn.send(json.dumps(empty(json.loads(INPUT), Context(IDS, _NoReporter(), lambda: False))))
    conn.close()


def multiprocessing_run(method: str) -> Callable[[], None]:
    context = multiprocessing.get_context(method)

    def run() -> None:
        parent, child = context.Pipe(duplex=False)
        process = context.Process(target=_mp_child, args=(child,))  # type: ignore[attr-defined]
        process.start()
        child.close()
        parent.recv()
        process.join()

    return run


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped children only
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(function: Callable[[], None], tasks: int) -> tuple[list[float], float]:
    """Wall milliseconds per task, and the mean CPU milliseconds (parent + child) per task.

    Wall time is what a task waits; CPU time is what it costs, and is far less sensitive to
    other load on the machine, which inflates fork's wall time a lot on small VMs.
    """
    for _ in range(min(10, tasks)):  # warm-up (imports, page cache, forkserver start)
        function()
    samples = []
    cpu_before = _cpu_seconds()
    for _ in range(tasks):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, (_cpu_seconds() - cpu_before) * 1000 / tasks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=200, help="tasks per variant (default 200)")
    parser.add_argument("--no-alternatives", action="store_true", help="skip spawn and forkserver")
    args = parser.parse_args()
    variants: list[tuple[str, Callable[[], None]]] = [
        ("in-process", in_process),
        ("fork+waitpid", bare_fork),
        ("runner (fork)", runner_fork),
    ]
    if not args.no_alternatives:
        variants += [(m, multiprocessing_run(m)) for m in ("forkserver", "spawn")]
    print(f"{args.tasks} tasks per variant, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'variant':<16}{'median ms':>11}{'p90 ms':>9}{'over in-process':>17}{'CPU ms':>9}")
    baseline = 0.0
    for name, function in variants:
        samples, cpu = measure(function, args.tasks)
        median = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        baseline = baseline or median
        print(f"{name:<16}{median:>11.3f}{p90:>9.3f}{median - baseline:>+17.3f}{cpu:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
