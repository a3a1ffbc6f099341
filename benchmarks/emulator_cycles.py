"""Full SWF cycles against the emulator (or stock moto) from one client process.

A cycle: start -> poll decision -> schedule activity -> poll activity -> heartbeat -> complete
activity -> poll decision -> complete workflow. Prints cycles/s for each block and the server's
RSS. ``--stock`` runs the same against stock moto's ThreadedMotoServer in a subprocess and stops
once a block of 50 cycles runs under 1 cycle/s.

    .venv/bin/python benchmarks/emulator_cycles.py [--cycles 10000] [--every 1000] [--stock]
        [--state-file PATH [--durable-answers]]

``--state-file`` measures the emulator as supervisord.conf runs it (periodic snapshots);
``--durable-answers`` adds commit before answer (every changing call waits for a snapshot).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
DOMAIN, DECISIONS, ACTIVITIES = "bench", "bench-decisions", "bench-activities"
WF_TYPE = {"name": "Bench", "version": "1"}
ACT_TYPE = {"name": "Step", "version": "1"}


def start_server(stock: bool, persistence: list[str]) -> tuple[subprocess.Popen[str], str]:
    if stock:
        command = [sys.executable, "-m", "tests.support.stock_moto_server"]
    else:
        command = [sys.executable, "-m", "emulator", "--port", "0", "--poll-timeout", "5"]
        command += persistence
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("emulator ready on "):
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


def setup(swf: Any) -> None:
    swf.register_domain(name=DOMAIN, workflowExecutionRetentionPeriodInDays="1")
    swf.register_workflow_type(
        domain=DOMAIN,
        defaultTaskList={"name": DECISIONS},
        defaultExecutionStartToCloseTimeout="3600",
        defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
        **WF_TYPE,
    )
    swf.register_activity_type(
        domain=DOMAIN,
        defaultTaskList={"name": ACTIVITIES},
        defaultTaskHeartbeatTimeout="60",
        defaultTaskScheduleToCloseTimeout="600",
        defaultTaskScheduleToStartTimeout="600",
        defaultTaskStartToCloseTimeout="600",
        **ACT_TYPE,
    )


def cycle(swf: Any, index: int) -> None:
    swf.start_workflow_execution(domain=DOMAIN, workflowId=f"wf-{index}", workflowType=WF_TYPE)
    task = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    attrs = {"activityId": "step", "activityType": ACT_TYPE, "input": "{}"}
    decision = {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": attrs,
    }
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[decision])
    activity = swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": ACTIVITIES})
    swf.record_activity_task_heartbeat(taskToken=activity["taskToken"], details="50%")
    swf.respond_activity_task_completed(taskToken=activity["taskToken"], result="{}")
    task = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    done = {"decisionType": "CompleteWorkflowExecution"}
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[done])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=1_000)
    parser.add_argument("--stock", action="store_true", help="run against stock moto")
    parser.add_argument(
        "--state-file", type=Path, help="persist to this file (as the stack does); must not exist"
    )
    parser.add_argument("--durable-answers", action="store_true", help="with --state-file")
    args = parser.parse_args()
    persistence: list[str] = []
    if args.state_file is not None:
        if args.state_file.exists():
            raise SystemExit(f"{args.state_file} exists: the run must start from an empty emulator")
        persistence = ["--state-file", str(args.state_file)]
        persistence += ["--durable-answers"] if args.durable_answers else []
    server, url = start_server(args.stock, persistence)
    rss = psutil.Process(server.pid)
    swf = boto3.client(
        "swf",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    label = "stock moto" if args.stock else "emulator"
    try:
        setup(swf)
        block_start = window_start = time.perf_counter()
        block_cpu = sum(rss.cpu_times()[:2])
        for index in range(1, args.cycles + 1):
            cycle(swf, index)
            if index % 50 == 0:
                now = time.perf_counter()
                window_rate = 50 / (now - window_start)
                if args.stock and window_rate < 1.0:
                    partial = (index % args.every) / (now - block_start)
                    print(
                        f"{label}: stopped at {index} cycles: last 50 at {window_rate:.2f} cycles/s"
                        f" (block so far {partial:.1f} cycles/s)"
                    )
                    break
                window_start = now
            if index % args.every == 0:
                now = time.perf_counter()
                rate = args.every / (now - block_start)
                mb = rss.memory_info().rss / 2**20
                # Server CPU per cycle does not depend on what else the machine runs.
                cpu = sum(rss.cpu_times()[:2])
                cpu_ms = 1000 * (cpu - block_cpu) / args.every
                block_cpu = cpu
                print(
                    f"{label}: cycles {index - args.every + 1:>6}-{index:<6} {rate:7.1f} cycles/s"
                    f"  server CPU {cpu_ms:5.2f} ms/cycle  server RSS {mb:6.1f} MB",
                    flush=True,
                )
                block_start = now
        print(f"{label}: final server RSS {rss.memory_info().rss / 2**20:.1f} MB")
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
