"""Control-plane throughput and latency: the CPE stack against the floor, in one run.

    .venv/bin/python benchmarks/control_plane.py [--jobs 500] [--workers 2]

One emulator process serves three measurements (each in its own SWF domain and queues):

* **stack via the SDK**: ``cpe decider`` + ``cpe input-poller`` + N test workers
  (tests/support/noop_worker.py), each a process of its own. Jobs of a 3-step sequential
  no-op plan are submitted with ``cpe.client.Client.start_job`` (START_JOB over SQS, the real
  path); a reader thread takes the events off the client's output queue. Latency is
  submit -> WORKFLOW_COMPLETED received.
* **stack, direct start**: the same without the input poller: StartWorkflowExecution in the
  CPE shape straight to SWF, so the figure is the decider's and the workers'.
* **floor**: one single-threaded process making only the API calls the same job shape needs:
  StartWorkflowExecution, 4 x (PollForDecisionTask + RespondDecisionTaskCompleted), 3 x
  (PollForActivityTask + RespondActivityTaskCompleted) and one SendMessage of the completion
  to the client queue. No history folding, no templates, no notifications but the last.
  Latency is start -> completion sent.

Jobs are submitted as one burst in every case, so latency includes queueing behind the burst.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from cpe.client import Client  # noqa: E402
from cpe.config import load_settings  # noqa: E402

STEPS = 3
TASK_LIST = "bench-noop"
PLAN = {
    "name": "BenchNoop3",
    "version": "1",
    "default_execution_start_to_close_timeout": "3600",
    "default_task_start_to_close_timeout": "60",
    "activities": [{"name": "BenchNoop", "version": "1", "task_list": TASK_LIST}],
    "steps": [
        {
            "name": f"Step{i}",
            "activity": "BenchNoop",
            "input": f'{{"result": {{"step": {i}}}}}',
            **({"requires": [f"Step{i - 1}"]} if i > 1 else {}),
        }
        for i in range(1, STEPS + 1)
    ],
}
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CPE_"))},
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYTHONPATH": str(REPO_ROOT),
    "CPE_LOG_LEVEL": "WARNING",
}


# --- processes --------------------------------------------------------------------------


class Processes:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=ENV,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.running.clear()


@contextmanager
def emulator(log_dir: Path) -> Iterator[str]:
    command = [sys.executable, "-m", "emulator", "--port", "0", "--poll-timeout", "5"]
    with (log_dir / "emulator.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=ENV, stdout=subprocess.PIPE, stderr=log, text=True
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("emulator ready on "), line
        yield line.split()[-1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def aws_client(service: str, endpoint: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def summary(name: str, latencies: list[float], elapsed: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "name": name,
        "jobs": len(ordered),
        "seconds": round(elapsed, 2),
        "jobs_per_s": round(len(ordered) / elapsed, 2),
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


# --- the stack --------------------------------------------------------------------------


def write_stack_config(directory: Path, endpoint: str, name: str) -> Path:
    """A stack of its own (domain, queues) per variant, so the runs do not mix."""
    plan = directory / "bench_plan.yaml"
    plan.write_text(yaml.safe_dump(PLAN, sort_keys=False))
    config = {
        "aws": {"region": "us-east-1", "endpoint_url": endpoint},
        "domain": name,
        "decider": {"task_list": "bench-decisions"},
        "plans": [str(plan)],
        "clients": [{"name": name, "queues": {"input": f"{name}-in", "output": f"{name}-out"}}],
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def wait_registered(endpoint: str, domain: str, timeout: float = 60) -> None:
    swf = aws_client("swf", endpoint)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            types = swf.list_activity_types(domain=domain, registrationStatus="REGISTERED")
            if types["typeInfos"]:
                return
        except Exception:  # the domain is not there yet
            pass
        time.sleep(0.2)
    raise RuntimeError("the decider did not register the plan")


class CompletionReader(threading.Thread):
    """Takes every event off the output queue; records when each WORKFLOW_COMPLETED arrived."""

    def __init__(self, endpoint: str, queue_url: str, expected: int) -> None:
        super().__init__(daemon=True)
        self.sqs = aws_client("sqs", endpoint)
        self.url = queue_url
        self.expected = expected
        self.completed: dict[str, float] = {}
        self.other_final: dict[str, str] = {}

    def run(self) -> None:
        while len(self.completed) + len(self.other_final) < self.expected:
            messages = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            now = time.monotonic()
            for message in messages:
                event = json.loads(message["Body"])
                if event.get("type") == "WORKFLOW_COMPLETED":
                    self.completed[event["jobId"]] = now
                elif event.get("type") in ("WORKFLOW_FAILED", "WORKFLOW_CANCELED"):
                    self.other_final[event["jobId"]] = event["type"]
            if messages:
                self.sqs.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )


def run_stack(
    endpoint: str, jobs: int, workers: int, log_dir: Path, via_sdk: bool
) -> dict[str, Any]:
    """Via the SDK (START_JOB -> input poller) or StartWorkflowExecution straight to SWF."""
    name = "bench-sdk" if via_sdk else "bench-direct"
    config = write_stack_config(log_dir, endpoint, name)
    processes = Processes(log_dir)
    cpe = [sys.executable, "-m", "cpe.cli"]
    try:
        processes.start(f"{name}-decider", *cpe, "decider", "--config", str(config))
        if via_sdk:
            processes.start(f"{name}-input-poller", *cpe, "input-poller", "--config", str(config))
        for index in range(workers):
            processes.start(
                f"{name}-worker{index}",
                *[sys.executable, "-m", "tests.support.noop_worker", "--endpoint", endpoint],
                *["--domain", name, "--task-list", TASK_LIST],
            )
        wait_registered(endpoint, name)
        output_url = aws_client("sqs", endpoint).create_queue(QueueName=f"{name}-out")["QueueUrl"]
        reader = CompletionReader(endpoint, output_url, jobs)
        reader.start()
        submit = sdk_submitter(config, name) if via_sdk else direct_submitter(endpoint, name)
        submitted: dict[str, float] = {}
        begin = time.monotonic()
        for index in range(jobs):
            job_id = f"job-{index:05d}"
            submitted[job_id] = time.monotonic()
            submit(job_id, {"n": index})
        submit_seconds = time.monotonic() - begin
        reader.join(timeout=3600)
        if reader.other_final or len(reader.completed) < jobs:
            raise RuntimeError(
                f"{name}: {len(reader.completed)} completed, others {reader.other_final}"
            )
        elapsed = max(reader.completed.values()) - begin
        latencies = [reader.completed[job] - submitted[job] for job in submitted]
        path = "SDK -> input poller -> decider" if via_sdk else "direct start -> decider"
        result = summary(f"stack ({path} -> {workers} workers)", latencies, elapsed)
        result["submit_s"] = round(submit_seconds, 2)
        return result
    finally:
        processes.stop_all()


def sdk_submitter(config: Path, client_name: str) -> Callable[[str, dict[str, Any]], None]:
    os.environ.update({k: v for k, v in ENV.items() if k.startswith("AWS_")})
    client = Client(load_settings(config), client_name)
    workflow = (str(PLAN["name"]), str(PLAN["version"]))

    def submit(job_id: str, data: dict[str, Any]) -> None:
        client.start_job(data, workflow=workflow, job_id=job_id)

    return submit


def direct_submitter(endpoint: str, name: str) -> Callable[[str, dict[str, Any]], None]:
    """StartWorkflowExecution in the CPE shape, as the input poller would make it."""
    swf = aws_client("swf", endpoint)
    client = {"name": name, "queues": {"input": f"{name}-in", "output": f"{name}-out"}}

    def submit(job_id: str, data: dict[str, Any]) -> None:
        swf.start_workflow_execution(
            domain=name,
            workflowId=f"{name}.{job_id}",
            workflowType={"name": PLAN["name"], "version": PLAN["version"]},
            taskList={"name": "bench-decisions"},
            input=json.dumps({**data, "client": client}),
            tagList=[f"client:{name}"],
        )

    return submit


# --- the floor --------------------------------------------------------------------------


def run_floor(endpoint: str, jobs: int) -> dict[str, Any]:
    """Everything in one thread; polls only when a task is known to be waiting."""
    swf, sqs = aws_client("swf", endpoint), aws_client("sqs", endpoint)
    domain, decisions, activities = "bench-floor", "floor-decisions", "floor-noop"
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    swf.register_workflow_type(
        domain=domain,
        name="Floor",
        version="1",
        defaultTaskList={"name": decisions},
        defaultExecutionStartToCloseTimeout="3600",
        defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )
    swf.register_activity_type(
        domain=domain,
        name="Noop",
        version="1",
        defaultTaskList={"name": activities},
        defaultTaskHeartbeatTimeout="NONE",
        defaultTaskScheduleToCloseTimeout="NONE",
        defaultTaskScheduleToStartTimeout="NONE",
        defaultTaskStartToCloseTimeout="60",
    )
    out_url = sqs.create_queue(QueueName="floor-out")["QueueUrl"]
    started: dict[str, float] = {}
    finished: dict[str, float] = {}
    begin = time.monotonic()
    for index in range(jobs):
        workflow_id = f"floor.job-{index:05d}"
        started[workflow_id] = time.monotonic()
        swf.start_workflow_execution(
            domain=domain,
            workflowId=workflow_id,
            workflowType={"name": "Floor", "version": "1"},
            input=json.dumps({"n": index}),
        )
    pending_decisions, pending_activities = jobs, 0
    while pending_decisions or pending_activities:
        if pending_decisions:
            task = swf.poll_for_decision_task(
                domain=domain, taskList={"name": decisions}, startAtPreviousStartedEvent=True
            )
            if not task.get("taskToken"):
                continue
            done = sum(e["eventType"] == "ActivityTaskCompleted" for e in task["events"])
            # With incremental history, a task shows the one completion since last time.
            step = _floor_step(swf, domain, task) if done else 0
            pending_decisions -= 1
            if step < STEPS:
                decision = {
                    "decisionType": "ScheduleActivityTask",
                    "scheduleActivityTaskDecisionAttributes": {
                        "activityId": f"Step{step + 1}",
                        "activityType": {"name": "Noop", "version": "1"},
                        "input": "{}",
                    },
                }
                pending_activities += 1
            else:
                decision = {
                    "decisionType": "CompleteWorkflowExecution",
                    "completeWorkflowExecutionDecisionAttributes": {"result": "{}"},
                }
            swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[decision])
            if step == STEPS:
                workflow_id = task["workflowExecution"]["workflowId"]
                sqs.send_message(QueueUrl=out_url, MessageBody=json.dumps({"done": workflow_id}))
                finished[workflow_id] = time.monotonic()
        else:
            task = swf.poll_for_activity_task(domain=domain, taskList={"name": activities})
            if not task.get("taskToken"):
                continue
            swf.respond_activity_task_completed(taskToken=task["taskToken"], result="{}")
            pending_activities -= 1
            pending_decisions += 1
    elapsed = max(finished.values()) - begin
    latencies = [finished[w] - started[w] for w in started]
    return summary("floor (one process, SWF calls + 1 SQS send per job)", latencies, elapsed)


def _floor_step(swf: Any, domain: str, task: dict[str, Any]) -> int:
    """Which step just completed: the activityId of the completed task's scheduled event."""
    by_id = {e["eventId"]: e for e in task["events"]}
    for event in task["events"]:
        if event["eventType"] == "ActivityTaskCompleted":
            scheduled = event["activityTaskCompletedEventAttributes"]["scheduledEventId"]
            if scheduled in by_id:
                attrs = by_id[scheduled]["activityTaskScheduledEventAttributes"]
                return int(attrs["activityId"].removeprefix("Step"))
            history = swf.get_workflow_execution_history(
                domain=domain, execution=task["workflowExecution"]
            )["events"]
            return sum(e["eventType"] == "ActivityTaskCompleted" for e in history)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log-dir", type=Path, help="keep the daemons' logs here")
    parser.add_argument("--log-level", default="WARNING", help="the daemons' log level")
    args = parser.parse_args()
    ENV["CPE_LOG_LEVEL"] = args.log_level
    with tempfile.TemporaryDirectory(prefix="cpe-bench-") as tmp:
        log_dir = args.log_dir or Path(tmp)
        log_dir.mkdir(parents=True, exist_ok=True)
        with emulator(log_dir) as endpoint:
            results = [
                run_stack(endpoint, args.jobs, args.workers, log_dir, via_sdk=True),
                run_stack(endpoint, args.jobs, args.workers, log_dir, via_sdk=False),
                run_floor(endpoint, args.jobs),
            ]
    for result in results:
        print(
            f"{result['name']}: {result['jobs']} jobs in {result['seconds']} s = "
            f"{result['jobs_per_s']} jobs/s, latency p50 {result['p50_s']} s, p95 {result['p95_s']} s"
            + (f" (submitting took {result['submit_s']} s)" if "submit_s" in result else "")
        )
    sdk, direct, floor = results
    ratios = {
        "floor_over_stack_sdk": round(floor["jobs_per_s"] / sdk["jobs_per_s"], 2),
        "floor_over_stack_direct": round(floor["jobs_per_s"] / direct["jobs_per_s"], 2),
    }
    print(f"throughput ratio floor/stack: {ratios}")
    print(json.dumps({"results": results, **ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
