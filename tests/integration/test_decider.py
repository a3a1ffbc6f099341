"""``cpe decider`` as a real process on the emulator, with ``cpe input-poller`` and a real
worker process.

The worker is the real ``cpe activity-poller`` running ``tests.support.noop_worker:handle``
(``CPE_TEST_WORKER=noop`` swaps in the standalone tests/support/noop_worker.py instead), so the
step inputs of the plans script what each activity does. Jobs are started and cancelled only
through SQS, with raw boto3 messages in the original CPE envelope (the SDK's own path has
tests/integration/test_client.py); what the client sees is read from its output queue, what
SWF did from the run's history.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulator import REPO_ROOT, EmulatorProcess
from tests.support.stack import DaemonSet, daemon_env, write_config

PLANS = sorted((Path(__file__).parent / "plans").glob("decider_*.yaml"))
DOMAIN = "cpe-test"
CLIENT = "test"  # the client write_config configures by default
QUEUES = {"input": "test-input", "output": "test-output"}
DEADLINE = 40.0
WORKER = [sys.executable, "-m", "tests.support.noop_worker"]
USE_ACTIVITY_POLLER = os.environ.get("CPE_TEST_WORKER", "activity-poller") == "activity-poller"
HANDLER_SHIM = f"""import sys
sys.path.insert(0, {str(REPO_ROOT)!r})
from tests.support.noop_worker import handle
"""
ACTIVITIES = [
    {
        "name": name,
        "version": "1",
        "handler": "decider_handlers:handle",
        "task_list": "decider-noop",
    }
    for name in ("DeciderNoop", "DeciderShort")
]


class Worker:
    """tests/support/noop_worker.py as a process of its own."""

    def __init__(self, endpoint: str, log_path: Path) -> None:
        self.endpoint = endpoint
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *WORKER,
                    "--endpoint",
                    self.endpoint,
                    "--domain",
                    DOMAIN,
                    "--task-list",
                    "decider-noop",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**daemon_env(), "PYTHONPATH": str(REPO_ROOT)},
                cwd=REPO_ROOT,
                start_new_session=True,
            )

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class Stack:
    """Emulator + decider + worker, and the client's view of them."""

    def __init__(self, emulator: EmulatorProcess, tmp_path: Path) -> None:
        self.emulator = emulator
        self.swf = emulator.client("swf")
        self.sqs = emulator.client("sqs")
        # The activity poller imports handlers relative to the config's directory.
        (tmp_path / "decider_handlers.py").write_text(HANDLER_SHIM)
        config = write_config(
            tmp_path, emulator.endpoint_url, plans=PLANS, domain=DOMAIN, activities=ACTIVITIES
        )
        self.daemons = DaemonSet(config)
        self.worker = Worker(emulator.endpoint_url, tmp_path / "worker.log")
        self.output_url = self.input_url = ""
        self.events: list[dict[str, Any]] = []

    def start(self) -> None:
        self.output_url = self.sqs.create_queue(QueueName=QUEUES["output"])["QueueUrl"]
        self.input_url = self.sqs.create_queue(QueueName=QUEUES["input"])["QueueUrl"]
        self.daemons.start("decider")
        self.daemons.start("input-poller")
        if USE_ACTIVITY_POLLER:
            self.daemons.start("activity-poller")
        else:
            self.worker.start()
        # The decider registers the domain and types; a job can start once it has.
        wait_for(lambda: self._registered(), "the decider to register its plans")

    def _registered(self) -> bool:
        try:
            types = self.swf.list_workflow_types(domain=DOMAIN, registrationStatus="REGISTERED")
        except Exception:  # the domain does not exist yet
            return False
        return len(types["typeInfos"]) >= 3

    def command(self, kind: str, job_id: str, data: dict[str, Any]) -> None:
        """A command as the original CPE clients send it: a raw JSON envelope on SQS."""
        envelope = {"time": time.time(), "type": kind, "jobId": job_id, "data": data}
        self.sqs.send_message(QueueUrl=self.input_url, MessageBody=json.dumps(envelope))

    def start_job(self, plan: str, data: dict[str, Any], job_id: str | None = None) -> str:
        job_id = job_id or uuid.uuid4().hex
        workflow = {"name": plan, "version": "1", "domain": DOMAIN, "taskList": "cpe-decisions"}
        client = {"name": CLIENT, "queues": QUEUES}
        self.command("START_JOB", job_id, {**data, "workflow": workflow, "client": client})
        return job_id

    def cancel_job(self, job_id: str) -> None:
        self.command("CANCEL_JOB", job_id, {})

    def receive(self) -> None:
        response = self.sqs.receive_message(
            QueueUrl=self.output_url, WaitTimeSeconds=1, MaxNumberOfMessages=10
        )
        for message in response.get("Messages", []):
            self.events.append(json.loads(message["Body"]))
            self.sqs.delete_message(
                QueueUrl=self.output_url, ReceiptHandle=message["ReceiptHandle"]
            )

    def of(self, job_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["jobId"] == job_id and kind in (None, e["type"])]

    def wait_event(self, job_id: str, kind: str, timeout: float = DEADLINE) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.of(job_id, kind):
            assert time.monotonic() < deadline, f"no {kind} for {job_id}: {self.of(job_id)}"
            self.receive()
        return self.of(job_id, kind)[0]

    def history(self, job_id: str) -> list[dict[str, Any]]:
        runs = self.swf.list_closed_workflow_executions(
            domain=DOMAIN,
            startTimeFilter={"oldestDate": 0},
            executionFilter={"workflowId": f"{CLIENT}.{job_id}"},
        )["executionInfos"]
        runs += self.swf.list_open_workflow_executions(
            domain=DOMAIN,
            startTimeFilter={"oldestDate": 0},
            executionFilter={"workflowId": f"{CLIENT}.{job_id}"},
        )["executionInfos"]
        execution = runs[0]["execution"]
        pages = self.swf.get_paginator("get_workflow_execution_history").paginate(
            domain=DOMAIN, execution=execution
        )
        return [event for page in pages for event in page["events"]]

    def scheduled_ids(self, job_id: str) -> Counter[str]:
        return Counter(
            e["activityTaskScheduledEventAttributes"]["activityId"]
            for e in self.history(job_id)
            if e["eventType"] == "ActivityTaskScheduled"
        )

    def close(self) -> None:
        self.worker.close()
        self.daemons.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def stack(emulator: EmulatorProcess, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(emulator, tmp_path)
    try:
        stack.start()
        yield stack
    except BaseException:
        print(stack.daemons.logs(), file=sys.stderr)
        raise
    finally:
        stack.close()


def test_pipeline_with_fan_out_and_failure_branch(stack: Stack) -> None:
    job = stack.start_job("DeciderPipeline", {"items": [1, 2, 3]})
    done = stack.wait_event(job, "WORKFLOW_COMPLETED")

    assert done["data"]["workflow"]["workflowId"] == f"{CLIENT}.{job}"
    assert stack.of(job, "WORKFLOW_FAILED") == []
    scheduled = {e["data"]["activity"]["activityId"] for e in stack.of(job, "ACTIVITY_SCHEDULED")}
    assert scheduled == {"Prepare", "Fan[0]", "Fan[1]", "Fan[2]", "Risky", "Recover", "Finish"}
    fan_input = [
        e["data"]["activity"]["input"]
        for e in stack.of(job, "ACTIVITY_SCHEDULED")
        if e["data"]["activity"]["activityId"] == "Fan[2]"
    ]
    assert fan_input == [{"result": {"square": 9}}]
    assert "9" in json.dumps(done["data"]["result"])
    counts = stack.scheduled_ids(job)
    assert set(counts.values()) == {1}, counts


def test_retried_step_reports_each_retry(stack: Stack) -> None:
    job = stack.start_job("DeciderChain", {"first": {"fail_attempts": 2}})
    stack.wait_event(job, "WORKFLOW_COMPLETED")

    retries = stack.of(job, "ACTIVITY_RETRYING")
    assert [(r["data"]["attempt"], r["data"]["activity"]["activityId"]) for r in retries] == [
        (2, "First#2"),
        (3, "First#3"),
    ]
    assert all(r["data"]["delay"] >= 1 for r in retries)
    assert stack.scheduled_ids(job) == Counter(
        {"First": 1, "First#2": 1, "First#3": 1, "Second": 1, "Third": 1}
    )


def test_unhandled_failure_reaches_the_client(stack: Stack) -> None:
    failure = {"reason": "DISK_ON_FIRE", "details": "sector 7 is smoking"}
    job = stack.start_job("DeciderChain", {"second": {"fail": failure}})
    failed = stack.wait_event(job, "WORKFLOW_FAILED")

    assert "Second" in failed["data"]["reason"] + failed["data"]["details"]
    assert "DISK_ON_FIRE" in failed["data"]["reason"] + failed["data"]["details"]
    assert "sector 7 is smoking" in failed["data"]["details"]
    assert "Third" not in stack.scheduled_ids(job)
    assert stack.of(job, "WORKFLOW_COMPLETED") == []


def test_activity_timeout_is_reported(stack: Stack) -> None:
    job = stack.start_job("DeciderTimeout", {})
    timed_out = stack.wait_event(job, "ACTIVITY_TIMED_OUT")
    stack.wait_event(job, "WORKFLOW_FAILED")

    assert timed_out["data"]["activity"]["activityId"] == "TooSlow"
    assert timed_out["data"]["activity"]["activityType"] == {"name": "DeciderShort", "version": "1"}
    assert timed_out["data"]["timeoutType"] == "START_TO_CLOSE"


def test_cancel_while_a_step_runs(stack: Stack) -> None:
    job = stack.start_job("DeciderChain", {"first": {"sleep": 30}})
    stack.wait_event(job, "ACTIVITY_SCHEDULED")
    wait_for(
        lambda: any(e["eventType"] == "ActivityTaskStarted" for e in stack.history(job)),
        "the first step to start",
    )
    stack.cancel_job(job)

    stack.wait_event(job, "WORKFLOW_CANCELED", timeout=20)
    assert stack.of(job, "WORKFLOW_FAILED") == []
    assert stack.history(job)[-1]["eventType"] == "WorkflowExecutionCanceled"


def test_unknown_workflow_type_fails_that_workflow_only(stack: Stack) -> None:
    stack.swf.register_workflow_type(
        domain=DOMAIN,
        name="Stranger",
        version="7",
        defaultTaskList={"name": "cpe-decisions"},
        defaultExecutionStartToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="30",
        defaultChildPolicy="TERMINATE",
    )
    job = uuid.uuid4().hex
    stack.swf.start_workflow_execution(
        domain=DOMAIN,
        workflowId=f"{CLIENT}.{job}",
        workflowType={"name": "Stranger", "version": "7"},
        input="{}",
    )
    failed = stack.wait_event(job, "WORKFLOW_FAILED")
    assert "UNKNOWN_WORKFLOW_TYPE" in failed["data"]["reason"]
    assert "Stranger" in failed["data"]["reason"]
    assert "DeciderChain 1" in failed["data"]["reason"]
    assert "DeciderChain 1" in failed["data"]["details"]

    other = stack.start_job("DeciderChain", {})
    stack.wait_event(other, "WORKFLOW_COMPLETED")
    assert stack.daemons.alive("decider")


def test_decider_killed_mid_job_resumes_without_running_a_step_twice(stack: Stack) -> None:
    job = stack.start_job("DeciderChain", {"first": {"sleep": 1}, "second": {"sleep": 2}})
    stack.wait_event(job, "ACTIVITY_SCHEDULED")
    wait_for(lambda: "Second" in stack.scheduled_ids(job), "the second step to be scheduled")
    stack.daemons.kill("decider")
    stack.daemons.start("decider")

    stack.wait_event(job, "WORKFLOW_COMPLETED")
    assert stack.scheduled_ids(job) == Counter({"First": 1, "Second": 1, "Third": 1})
    assert "read full history" in stack.daemons.logs()  # the new process had no cache


def test_emulator_restart_under_running_daemons(stack: Stack) -> None:
    job = stack.start_job("DeciderChain", {"first": {"sleep": 1}, "second": {"sleep": 1}})
    stack.wait_event(job, "ACTIVITY_SCHEDULED")
    stack.emulator.restart()  # TERM (state written) and start again on the same port

    stack.wait_event(job, "WORKFLOW_COMPLETED")
    # A heartbeat missed during the outage may time an attempt out and retry it (First#2),
    # but no activityId is ever scheduled twice.
    counts = stack.scheduled_ids(job)
    assert set(counts.values()) == {1} and {"Second", "Third"} <= set(counts), counts
    after = stack.start_job("DeciderChain", {})  # through the input poller, after the restart
    stack.wait_event(after, "WORKFLOW_COMPLETED")
    assert stack.daemons.alive("decider") and stack.daemons.alive("input-poller")


def test_first_term_finishes_and_exits_zero(stack: Stack) -> None:
    job = stack.start_job("DeciderChain", {})
    stack.wait_event(job, "WORKFLOW_COMPLETED")
    assert stack.daemons.stop("decider", timeout=15) == 0


def test_a_job_submitted_through_the_sdk_and_input_poller(stack: Stack) -> None:
    from cpe.client import Client
    from cpe.config import load_settings

    client = Client(load_settings(stack.daemons.config), CLIENT)
    job = client.start_job({"third": {"result": {"answer": 42}}}, workflow=("DeciderChain", "1"))

    stack.wait_event(job, "WORKFLOW_SCHEDULED")
    done = stack.wait_event(job, "WORKFLOW_COMPLETED")
    assert '"answer": 42' in json.dumps(done["data"]["result"])  # the last step's output
    assert [e["data"]["activity"]["activityId"] for e in stack.of(job, "ACTIVITY_SCHEDULED")] == [
        "First",
        "Second",
        "Third",
    ]


def test_endpoint_down_is_logged_once_backed_off_and_survived(stack: Stack) -> None:
    def decider_log() -> str:
        return "\n".join(p.read_text() for p in stack.daemons.log_dir.glob("decider.*.log"))

    stack.emulator.terminate()  # down (its state is written), until restarted below
    wait_for(lambda: decider_log().count("still unavailable") >= 2, "two backed-off retries")
    assert decider_log().count("endpoint unavailable, backing off") == 1
    assert decider_log().count("retrying operation=PollForDecisionTask") < 40  # no spinning

    stack.emulator.restart()
    job = stack.start_job("DeciderChain", {})
    stack.wait_event(job, "WORKFLOW_COMPLETED")
    assert decider_log().count("endpoint available again") == 1
    assert stack.daemons.alive("decider")


def test_the_decider_registers_its_plans_with_their_timeouts(stack: Stack) -> None:
    """On an emulator that nothing bootstrapped, the decider registered the domain, each plan's
    workflow type with the plan's timeouts, and the plan's activity types with theirs."""
    workflow = stack.swf.describe_workflow_type(
        domain=DOMAIN, workflowType={"name": "DeciderChain", "version": "1"}
    )["configuration"]
    assert workflow["defaultExecutionStartToCloseTimeout"] == "600"
    assert workflow["defaultTaskStartToCloseTimeout"] == "30"
    assert workflow["defaultTaskList"] == {"name": "cpe-decisions"}
    activity = stack.swf.describe_activity_type(
        domain=DOMAIN, activityType={"name": "DeciderNoop", "version": "1"}
    )["configuration"]
    assert activity["defaultTaskStartToCloseTimeout"] == "60"
    assert activity["defaultTaskHeartbeatTimeout"] == "3"
