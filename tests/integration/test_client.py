"""The client SDK and CLI against a whole stack: input poller, decider and activity poller as
real processes on the emulator. Jobs go in and events come out only through SQS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cpe import messages
from cpe.client import Client, JobTimeout
from cpe.config import load_settings
from cpe.errors import CommandRejected
from tests.integration.test_input_poller_support import CLIENT_A, ECHO_PLAN
from tests.support.emulator import EmulatorProcess
from tests.support.stack import DaemonSet, daemon_env, write_config

ECHO = ("InputEcho", "1.0")
TIMEOUT = 120.0
WORKER = """
import time

def echo(value, ctx):
    ctx.progress(50)
    deadline = time.monotonic() + float(value.get("sleep", 0)) if isinstance(value, dict) else 0
    while time.monotonic() < deadline and not ctx.cancelled:
        time.sleep(0.05)
    return value
"""


@pytest.fixture
def config(tmp_path: Path, emulator: EmulatorProcess) -> Path:
    (tmp_path / "input_workers.py").write_text(WORKER, encoding="utf-8")
    activity = {"name": "InputEchoActivity", "version": "1", "handler": "input_workers:echo"}
    return write_config(
        tmp_path,
        emulator.endpoint_url,
        plans=[ECHO_PLAN],
        clients=[CLIENT_A],
        activities=[activity],
        worker={"grace_period": 5, "cancel_grace_period": 1},
        extra={"status_cache_seconds": 0},
    )


@pytest.fixture
def client(config: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    for key, value in daemon_env().items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    with DaemonSet(config) as daemons:
        daemons.start("input-poller")
        daemons.start("decider")
        daemons.start("activity-poller")
        try:
            yield Client(load_settings(config), "alpha")
        except BaseException:
            print(daemons.logs(), file=sys.stderr)
            raise


def test_sdk_runs_a_job_and_answers_status_and_list(client: Client) -> None:
    job_id = client.start_job({"payload": {"n": 7}}, workflow=ECHO)
    final = client.wait(job_id, timeout=TIMEOUT)
    assert final["type"] == messages.WORKFLOW_COMPLETED, final
    status = client.job_status(job_id)
    assert status["data"]["status"] == "COMPLETED"
    assert [(s["name"], s["status"]) for s in status["data"]["steps"]] == [
        ("First", "completed"),
        ("Second", "completed"),
    ]
    activity = client.activity_status(job_id, "First")
    assert activity["data"]["activity"]["result"] == {"n": 7}
    jobs = client.list_jobs()
    assert [(j["jobId"], j["status"]) for j in jobs] == [(job_id, "COMPLETED")]
    with pytest.raises(CommandRejected) as refused:
        client.job_status("no-such-job")
    assert refused.value.reason == "UNKNOWN_JOB"


def test_sdk_cancel_while_a_step_runs(client: Client) -> None:
    job_id = client.start_job({"payload": {"sleep": 60}}, workflow="InputEcho:1.0")
    for event in client.events(job_id, wait=TIMEOUT):
        if event["type"] == messages.ACTIVITY_PROGRESS:
            break
    ack = client.cancel_job(job_id, timeout=30)
    assert ack is not None and ack["type"] == messages.CANCEL_REQUESTED
    final = client.wait(job_id, timeout=TIMEOUT)
    assert final["type"] == messages.WORKFLOW_CANCELED


def history_types(emulator: EmulatorProcess, workflow_id: str) -> list[str]:
    swf = emulator.client("swf")
    runs = swf.list_closed_workflow_executions(
        domain="cpe-test",
        startTimeFilter={"oldestDate": 0},
        executionFilter={"workflowId": workflow_id},
    )["executionInfos"]
    history = swf.get_workflow_execution_history(domain="cpe-test", execution=runs[0]["execution"])
    return [event["eventType"] for event in history["events"]]


def test_cancel_activity_fails_its_step_and_the_unhandled_failure_fails_the_job(
    client: Client, emulator: EmulatorProcess
) -> None:
    job_id = client.start_job({"payload": {"sleep": 60}}, workflow=ECHO)
    for event in client.events(job_id, wait=TIMEOUT):
        if event["type"] == messages.ACTIVITY_PROGRESS:
            break
    ack = client.cancel_activity(job_id, "First", timeout=30)
    assert ack is not None
    assert ack["data"]["activity"]["activityId"] == "First"
    seen: list[dict[str, Any]] = []
    for event in client.events(job_id, wait=TIMEOUT):
        seen.append(event)
        if event["type"] in messages.FINAL_EVENTS:
            break
    types = [event["type"] for event in seen]
    assert messages.ACTIVITY_CANCELED in types, types
    final = seen[-1]
    assert final["type"] == messages.WORKFLOW_FAILED, final
    assert final["data"]["reason"] == "step First failed: ActivityTaskCanceled"
    history = history_types(emulator, f"alpha.{job_id}")
    requested = history.index("ActivityTaskCancelRequested")
    assert history.index("ActivityTaskCanceled") > requested
    assert "ActivityTaskCompleted" not in history
    status = client.job_status(job_id)["data"]
    assert [(s["name"], s["status"]) for s in status["steps"]] == [
        ("First", "canceled"),
        ("Second", "pending"),
    ]
    assert status["activities"][0]["cancelRequested"] is True


def test_filtered_events_leave_other_jobs_events_for_their_readers(client: Client) -> None:
    first = client.start_job({"payload": {"n": 1}}, workflow=ECHO, job_id="first")
    second = client.start_job({"payload": {"n": 2}}, workflow=ECHO, job_id="second")
    assert client.wait(second, timeout=TIMEOUT)["type"] == messages.WORKFLOW_COMPLETED
    # every event of "first" seen meanwhile was released, not deleted: its story is complete
    seen = [e["type"] for e in client.events(first, wait=5)]
    assert seen[0] == messages.WORKFLOW_SCHEDULED
    assert seen[-1] == messages.WORKFLOW_COMPLETED
    with pytest.raises(JobTimeout):
        client.wait(first, timeout=1)


def cli(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**daemon_env(), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "cpe.cli", *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT + 30,
        check=False,
    )


def test_cli_submit_watch_status_jobs(client: Client, config: Path) -> None:
    submitted = cli(config, "submit", "InputEcho", "--input", "-", stdin='{"payload": {"n": 3}}')
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    watched = cli(config, "watch", job_id, "--timeout", str(TIMEOUT))
    assert watched.returncode == 0, watched.stderr
    assert "ACTIVITY_COMPLETED First" in watched.stdout
    assert f"job {job_id} COMPLETED" in watched.stdout.splitlines()[-1]
    status = cli(config, "status", job_id, "--json")
    assert json.loads(status.stdout)["data"]["status"] == "COMPLETED"
    listed = cli(config, "jobs")
    assert job_id in listed.stdout and "COMPLETED" in listed.stdout
    unknown = cli(config, "submit", "Nope:1", "--input", "-", stdin="{}")
    assert unknown.returncode == 3
    assert unknown.stderr.startswith("cpe submit: error: unknown workflow 'Nope:1'")
    assert "Traceback" not in unknown.stderr


def test_cli_watch_exit_code_of_a_cancelled_job(client: Client, config: Path) -> None:
    job_id = client.start_job({"payload": {"sleep": 60}}, workflow=ECHO)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "cpe.cli", "watch", job_id, "--config", str(config), "--json"],
        stdout=subprocess.PIPE,
        text=True,
        env={**daemon_env(), **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}},
    )
    try:
        cancelled = cli(config, "cancel", job_id)
        assert cancelled.returncode == 0, cancelled.stderr
        assert watcher.wait(timeout=TIMEOUT) == 2
    finally:
        watcher.kill()
        watcher.wait()
