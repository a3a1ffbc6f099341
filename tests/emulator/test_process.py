"""The emulator as a process: ready line, clean TERM, restart from the state file, bootstrap, SQS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.emulator.conftest import Swf, complete, schedule
from tests.support.emulator import REPO_ROOT, EmulatorProcess


def test_ready_within_3_seconds_and_term_within_2(tmp_path: Path) -> None:
    """`python -m emulator --port 0` prints its ready line within 3 s; TERM stops it within
    2 s and writes the state file."""
    state = tmp_path / "state.pickle"
    started = time.monotonic()
    emulator = EmulatorProcess.start(tmp_path, "--state-file", str(state))
    assert time.monotonic() - started < 3.0
    assert emulator.endpoint_url.startswith("http://127.0.0.1:")
    Swf(emulator).setup()
    started = time.monotonic()
    assert emulator.terminate() == 0
    assert time.monotonic() - started < 2.0
    assert state.exists()


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """An emulator that answers a changing call only once the change is in its state file."""
    state = tmp_path / "durable.state"
    args = ("--poll-timeout", "2", "--state-file", str(state), "--durable-answers")
    with EmulatorProcess.start(tmp_path, *args) as emulator:
        yield emulator


def test_sigkill_restart_keeps_runs_tokens_and_timeouts(durable: EmulatorProcess) -> None:
    """Killed right after answering (no snapshot awaited: with --durable-answers every answer
    waits for its change to be saved) and restarted on its state file, the emulator keeps the
    run, honours task tokens it handed out before the kill, and still times out an in-flight
    task."""
    emulator = durable
    swf = Swf(emulator)
    swf.setup()
    execution = swf.start()
    swf.decide(
        swf.poll_decision()["taskToken"], schedule("a1"), schedule("a2", startToCloseTimeout="3")
    )
    first, second = swf.poll_activity(), swf.poll_activity()
    assert {first["activityId"], second["activityId"]} == {"a1", "a2"}
    keep = first if first["activityId"] == "a1" else second
    emulator.kill()
    emulator.restart()
    swf = Swf(emulator)
    swf.client.respond_activity_task_completed(taskToken=keep["taskToken"], result="kept")
    seen: list[str] = []
    deadline = time.monotonic() + 15  # a2 times out 3 s after it started; polls last 2 s
    while "ActivityTaskTimedOut" not in seen:
        assert time.monotonic() < deadline, f"no timeout after restart: {swf.types(execution)}"
        task = swf.poll_decision()
        if not task.get("taskToken"):
            continue
        seen += [event["eventType"] for event in task["events"]]
        if "ActivityTaskTimedOut" in seen:
            swf.decide(task["taskToken"], complete())
        else:
            swf.decide(task["taskToken"])
    info = swf.describe(execution)["executionInfo"]
    assert info["closeStatus"] == "COMPLETED"
    assert "ActivityTaskCompleted" in swf.types(execution)


def test_sigkill_right_after_answers_loses_no_message_or_run(durable: EmulatorProcess) -> None:
    """With --durable-answers, what a client was told happened survives a SIGKILL that follows
    at once: the message it sent, the message it deleted, the run it started."""
    emulator = durable
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName="durable")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="gone")
    (gone,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=gone["ReceiptHandle"])
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    swf = Swf(emulator)
    swf.setup()
    execution = swf.start()
    emulator.kill()
    emulator.restart()
    sqs = emulator.client("sqs")
    received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
    assert [m["Body"] for m in received["Messages"]] == ["kept"]
    assert Swf(emulator).describe(execution)["executionInfo"]["executionStatus"] == "OPEN"


def test_bootstrap_from_config_is_idempotent(tmp_path: Path) -> None:
    """--config creates the domain, plan workflow and activity types with their defaults, and
    each client's queues with a DLQ behind the input queue; a second start changes nothing."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: Transcode\nversion: 1.0\ndefault_execution_start_to_close_timeout: '3600'\n"
        "default_task_start_to_close_timeout: 300\nactivities:\n"
        "  - {name: Validate, version: v2, heartbeat_timeout: 60, start_to_close_timeout: NONE}\n"
        "steps: []\n"
    )
    config = tmp_path / "cpe.yaml"
    config.write_text(
        json.dumps(
            {
                "domain": "boot",
                "decider": {"task_list": "boot-decisions"},
                "plans": [str(plan)],
                "clients": [{"name": "c", "queues": {"input": "c-in", "output": "c-out"}}],
                "activities": [{"name": "Checksum", "version": "1", "handler": "x:y"}],
            }
        )
    )
    state = tmp_path / "state.pickle"
    with EmulatorProcess.start(
        tmp_path, "--config", str(config), "--state-file", str(state)
    ) as emulator:
        swf, sqs = emulator.client("swf"), emulator.client("sqs")
        wf = swf.describe_workflow_type(
            domain="boot", workflowType={"name": "Transcode", "version": "1.0"}
        )
        assert wf["configuration"]["defaultTaskList"] == {"name": "boot-decisions"}
        assert wf["configuration"]["defaultTaskStartToCloseTimeout"] == "300"
        act = swf.describe_activity_type(
            domain="boot", activityType={"name": "Validate", "version": "v2"}
        )
        assert act["configuration"]["defaultTaskList"] == {"name": "Validate-v2"}
        assert act["configuration"]["defaultTaskHeartbeatTimeout"] == "60"
        swf.describe_activity_type(domain="boot", activityType={"name": "Checksum", "version": "1"})
        url = sqs.get_queue_url(QueueName="c-in")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        policy = json.loads(attrs["RedrivePolicy"])
        assert policy["maxReceiveCount"] == 5
        assert policy["deadLetterTargetArn"].endswith(":c-in-dlq")
        sqs.get_queue_url(QueueName="c-out")
        emulator.restart()  # state file + config again: idempotent
        assert len(emulator.client("sqs").list_queues()["QueueUrls"]) == 3


def test_sqs_long_poll_wakes_and_delivers_once(emulator: EmulatorProcess) -> None:
    """ReceiveMessage with WaitTimeSeconds waits, returns as soon as a message is sent, and
    concurrent receivers never get the same message.
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html"""
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert time.monotonic() - started >= 0.9
    received: list[str] = []

    def receiver() -> None:
        client = emulator.client("sqs")
        while True:
            messages = client.receive_message(
                QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=3
            ).get("Messages", [])
            if not messages:
                return
            for message in messages:
                received.append(message["Body"])
                client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    threads = [threading.Thread(target=receiver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for index in range(200):
        sqs.send_message(QueueUrl=url, MessageBody=str(index))
    for thread in threads:
        thread.join()
    assert sorted(received, key=int) == [str(i) for i in range(200)]


def test_cli_main_is_importable_and_serves(tmp_path: Path) -> None:
    """`cpe emulator` routes to emulator.cli:main; INT stops it like TERM."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from emulator.cli import main; sys.exit(main(['--port', '0']))",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("emulator ready on http://127.0.0.1:")
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(timeout=5) == 0


POLLER = """
import sys, boto3
swf = boto3.client("swf", region_name="us-east-1", endpoint_url=sys.argv[1],
                   aws_access_key_id="testing", aws_secret_access_key="testing")
swf.poll_for_decision_task(domain=sys.argv[2], taskList={"name": "decisions"})
"""


def test_a_dead_poller_is_not_handed_a_task(tmp_path: Path) -> None:
    """A poller killed mid-poll (a crashed daemon) does not take the next task: the live
    poller gets it at once instead of after the task's start-to-close timeout."""
    with EmulatorProcess.start(tmp_path, "--poll-timeout", "30") as emulator:
        swf = Swf(emulator)
        swf.setup()
        command = [sys.executable, "-c", POLLER, emulator.endpoint_url, swf.domain]
        doomed = subprocess.Popen(command)
        watched = psutil.Process(doomed.pid)
        deadline = time.monotonic() + 20
        while not any(c.raddr and c.raddr[1] == emulator.port for c in watched.net_connections()):
            assert time.monotonic() < deadline, "poller never connected"
            time.sleep(0.02)
        doomed.kill()
        doomed.wait()
        execution = swf.start()
        started = time.monotonic()
        task = swf.poll_decision()
        assert task["workflowExecution"] == execution
        assert time.monotonic() - started < 5


def test_idle_without_endpoint_serves_nothing_until_term(tmp_path: Path) -> None:
    """With --idle-without-endpoint, a config that names no aws.endpoint_url (the stack runs
    on AWS) makes the emulator program do nothing: one line saying why, no port, exit 0 on
    TERM; a config naming an endpoint serves as usual."""
    config = tmp_path / "cpe.yaml"
    config.write_text("aws: {region: us-east-1}\ndomain: cpe\n")
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    command = [sys.executable, "-m", "emulator", "--port", "0", "--config", str(config)]
    idle = subprocess.Popen(
        [*command, "--idle-without-endpoint"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert idle.stdout is not None
        assert idle.stdout.readline().startswith(f"emulator idle: {config} names no")
        assert psutil.Process(idle.pid).net_connections() == []
        idle.send_signal(signal.SIGTERM)
        assert idle.wait(timeout=5) == 0
    finally:
        idle.kill()

    config.write_text("aws: {endpoint_url: 'http://127.0.0.1:4566'}\ndomain: cpe\n")
    serving = EmulatorProcess.start(tmp_path, "--config", str(config), "--idle-without-endpoint")
    try:
        assert "cpe" in str(serving.client("swf").list_domains(registrationStatus="REGISTERED"))
    finally:
        serving.terminate()
