"""Time fold+decide for a job at step N of a long sequential plan.

(a) full: fold the whole history, then decide (what a decider without a cache does);
(b) incremental: fold only the events since the previous decision onto the previous state.

    .venv/bin/python benchmarks/decide_scaling.py [--steps 10,100,1000,5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cpe.decide import decide
from cpe.plan import Plan, parse_plan
from cpe.state import ExecutionState, fold
from tests.support.history import History


def sequential_plan(length: int) -> Plan:
    lines = ["  - {name: S0, activity: A}"]
    lines += [
        f"  - {{name: S{i}, activity: A, requires: [S{i - 1}], input: '{{{{ S{i - 1} }}}}'}}"
        for i in range(1, length)
    ]
    text = "name: Long\nversion: '1'\nactivities: [{name: A, version: '1'}]\nsteps:\n"
    return parse_plan(text + "\n".join(lines) + "\n", "long.yaml")


def run_to(plan: Plan, step: int) -> tuple[History, ExecutionState, int]:
    """History with steps 0..step-1 done, and the state as of the previous decision."""
    history = History()
    history.started({"n": 0})
    state = fold(history.events)
    previous_id = 0
    for index in range(step):
        state = fold(history.since(state.last_event_id), state)
        history.apply(decide(plan, state))
        history.activity_started(f"S{index}")
        previous_id = history.last_id
        history.activity_completed(f"S{index}", {"i": index})
    return history, state, previous_id


def best_of(repeat: int, action: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default="10,100,1000,5000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    targets = [int(part) for part in args.steps.split(",")]
    plan = sequential_plan(max(targets) + 1)
    print(f"{'step':>6} {'events':>7} {'full ms':>9} {'incremental ms':>15}")
    for target in targets:
        history, prior, _ = run_to(plan, target)
        new_events = history.since(prior.last_event_id)
        full = best_of(args.repeat, lambda h=history: decide(plan, fold(h.events)))
        incremental = best_of(args.repeat, lambda p=prior, e=new_events: decide(plan, fold(e, p)))
        assert decide(plan, fold(history.events)) == decide(plan, fold(new_events, prior))
        print(f"{target:>6} {len(history.events):>7} {full * 1e3:>9.2f} {incremental * 1e3:>15.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
