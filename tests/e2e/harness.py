"""The end-to-end harness: the real stack under supervisord, on a copy of the configuration.

    stack = SupervisedStack.prepare(tmp_path, pool_size=2)
    stack.start()                  # supervisord -n -c <copy>/supervisord.conf; waits RUNNING
    job = stack.submit("plans/word-count.yaml", "examples/jobs/word-count.json")
    final = stack.events.wait_final(job, timeout=60)
    stack.history(job)             # the SWF history, straight from the emulator
    stack.kill_program("decider")  # SIGKILL; supervisord restarts it
    stack.shutdown()               # supervisorctl shutdown, waits, checks nothing is left

What is copied is exactly what a user runs (supervisord.conf, cpe.yaml, plans/, examples/);
the copy differs only where a test machine needs it to: a free port instead of 4566, short
long polls (the emulator's ``--poll-timeout``), short heartbeat and decision-task timeouts so
that work held by a killed process is handed out again in seconds, a small pool (through supervisord.local.conf, the documented way).
Every process of the stack inherits a marker variable, so leftovers are found by it even after
they have been orphaned.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import yaml

from tests.support.emulator import make_client

REPO = Path(__file__).resolve().parents[2]
COPIED = ("supervisord.conf", "cpe.yaml", "plans", "examples")
MARKER = "CPE_E2E_STACK"
PROGRAMS_TIMEOUT = 60.0
DECISION_TIMEOUT = 10  # seconds a decision task held by a killed decider blocks its run
FINAL_EVENTS = frozenset({"WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELED"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


def _rewrite_timeouts(plan_file: Path, heartbeat_timeout: int) -> None:
    """Short timeouts, so that a task or decision lost with a killed process returns soon."""
    plan = yaml.safe_load(plan_file.read_text(encoding="utf-8"))
    plan["default_task_start_to_close_timeout"] = str(DECISION_TIMEOUT)
    for activity in plan.get("activities", []):
        activity["heartbeat_timeout"] = str(heartbeat_timeout)
    plan_file.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")


class EventLog:
    """Drains the client's output queue in a thread and files every event under its jobId."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._errors = 0
        self.final_at: dict[str, float] = {}  # jobId -> time.monotonic() its end arrived
        self._thread = threading.Thread(target=self._drain, daemon=True, name="e2e-events")
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                for event in self._client.events(wait=2):
                    self._file(event)
                    if self._stop.is_set():
                        return
            except Exception:  # the emulator may be down on purpose: retry, as a client would
                self._errors += 1
                self._stop.wait(0.5)

    def _file(self, event: dict[str, Any]) -> None:
        with self._changed:
            job_id = str(event.get("jobId"))
            self._events[job_id].append(event)
            if event.get("type") in FINAL_EVENTS:
                self.final_at.setdefault(job_id, time.monotonic())
            self._changed.notify_all()

    def of(self, job_id: str) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._events.get(job_id, []))

    def types(self, job_id: str) -> list[str]:
        return [e["type"] for e in self.of(job_id)]

    def wait(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = condition()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
                self._changed.wait(min(remaining, 1.0))

    def final(self, job_id: str) -> dict[str, Any] | None:
        with self._changed:
            for event in self._events.get(job_id, []):
                if event["type"] in FINAL_EVENTS:
                    return event
        return None

    def wait_final(self, job_id: str, timeout: float) -> dict[str, Any]:
        final: dict[str, Any] = self.wait(
            lambda: self.final(job_id), timeout, f"the final event of job {job_id}"
        )
        return final

    def wait_all_final(self, job_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        def all_done() -> dict[str, dict[str, Any]] | None:
            finals = {job: self.final(job) for job in job_ids}
            return None if None in finals.values() else finals  # type: ignore[return-value]

        pending = lambda: [j for j in job_ids if self.final(j) is None]  # noqa: E731
        try:
            result: dict[str, dict[str, Any]] = self.wait(all_done, timeout, "every job to end")
        except AssertionError as error:
            raise AssertionError(f"{error}; still open: {pending()[:10]}") from None
        return result

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class SupervisedStack:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self.marker = uuid.uuid4().hex
        self.process: subprocess.Popen[bytes] | None = None
        self._events: EventLog | None = None
        self._client: Any = None

    # ------------------------------------------------------------------ preparation

    @classmethod
    def prepare(
        cls,
        tmp_path: Path,
        *,
        pool_size: int = 2,
        poll_timeout: float = 2,
        heartbeat_timeout: int = 5,
        grace_period: float = 20,
    ) -> SupervisedStack:
        root = tmp_path / "stack"
        root.mkdir()
        for name in COPIED:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, root / name)
        # supervisord.conf runs %(here)s/.venv/bin/python: the environment running the tests.
        (root / ".venv").symlink_to(Path(sys.prefix))
        stack = cls(root, free_port())
        stack._rewrite_supervisord(poll_timeout)
        stack._rewrite_config(heartbeat_timeout, grace_period)
        for plan_file in (root / "plans").glob("*.yaml"):
            _rewrite_timeouts(plan_file, heartbeat_timeout)
        (root / "supervisord.local.conf").write_text(
            f"[program:activity-pool]\nnumprocs = {pool_size}\n", encoding="utf-8"
        )
        (root / "var" / "log").mkdir(parents=True)
        return stack

    def _rewrite_supervisord(self, poll_timeout: float) -> None:
        path = self.root / "supervisord.conf"
        text = path.read_text(encoding="utf-8")
        text, count = re.subn(
            r"--port 4566", f"--port {self.port} --poll-timeout {poll_timeout}", text
        )
        assert count == 1, "supervisord.conf: the emulator's --port 4566 is not where expected"
        path.write_text(text, encoding="utf-8")

    def _rewrite_config(self, heartbeat_timeout: int, grace_period: float) -> None:
        path = self.root / "cpe.yaml"
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        config["aws"]["endpoint_url"] = self.endpoint_url
        config.setdefault("worker", {})["grace_period"] = grace_period
        for activity in config.get("activities", []):
            activity["heartbeat_timeout"] = heartbeat_timeout
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    # ------------------------------------------------------------------ lifecycle

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CPE_"))}
        env.update({MARKER: self.marker, "PYTHONUNBUFFERED": "1"})
        return env

    def start(self) -> None:
        supervisord = self.root / ".venv" / "bin" / "supervisord"
        with (self.root / "var" / "supervisord.out").open("wb") as out:
            self.process = subprocess.Popen(
                [str(supervisord), "-n", "-c", str(self.root / "supervisord.conf")],
                cwd=self.root,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_running()

    def ctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        supervisorctl = self.root / ".venv" / "bin" / "supervisorctl"
        return subprocess.run(
            [str(supervisorctl), "-c", str(self.root / "supervisord.conf"), *args],
            capture_output=True,
            text=True,
            timeout=200,
            check=check,
            env=self.env(),
        )

    def statuses(self) -> dict[str, str]:
        """program name (``group:name`` for pools) -> state, from ``supervisorctl status``."""
        result: dict[str, str] = {}
        for line in self.ctl("status").stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].isupper():
                result[parts[0]] = parts[1]
        return result

    def all_running(self) -> bool:
        states = self.statuses()
        return bool(states) and all(state == "RUNNING" for state in states.values())

    def wait_running(self, timeout: float = PROGRAMS_TIMEOUT) -> None:
        assert self.process is not None
        try:
            wait_for(
                lambda: (
                    self.process is not None
                    and (self.process.poll() is not None or self.all_running())
                ),
                timeout,
                "every supervisord program to be RUNNING",
            )
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.ctl('status').stdout}\n{self.logs()}") from None
        assert self.process.poll() is None, f"supervisord exited\n{self.logs()}"
        wait_for(self._emulator_answers, 30, "the emulator to answer")

    def _emulator_answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def pid(self, program: str) -> int:
        out = self.ctl("pid", program).stdout.strip()
        assert out.isdigit() and int(out) > 0, f"no pid for {program}: {out!r}"
        return int(out)

    def kill_program(self, program: str, signum: int = signal.SIGKILL) -> int:
        """Signal the program's main process alone (a crash); returns the pid it had."""
        pid = self.pid(program)
        os.kill(pid, signum)
        return pid

    def wait_restarted(self, program: str, old_pid: int, timeout: float = 30) -> int:
        def new_pid() -> int | None:
            if self.statuses().get(program) != "RUNNING":
                return None
            pid = self.pid(program)
            return pid if pid != old_pid else None

        restarted: int = wait_for(new_pid, timeout, f"supervisord to restart {program}")
        return restarted

    def pool_programs(self) -> list[str]:
        return sorted(name for name in self.statuses() if name.startswith("activity-pool"))

    def task_children(self) -> list[psutil.Process]:
        """The running task processes: the children of the activity pollers."""
        children: list[psutil.Process] = []
        for program in self.pool_programs():
            with contextlib.suppress(AssertionError, psutil.NoSuchProcess):
                children += psutil.Process(self.pid(program)).children()
        return children

    def stack_processes(self) -> list[psutil.Process]:
        """Every live process started by this stack, orphans included (by marker)."""
        found = []
        for process in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error):
                if process.environ().get(MARKER) == self.marker and process.status() != "zombie":
                    found.append(process)
        return found

    def shutdown(self, timeout: float = 150) -> None:
        """Stop everything the documented way and wait for supervisord to exit."""
        if self._events is not None:
            self._events.close()
            self._events = None
        if self.process is None or self.process.poll() is not None:
            return
        self.ctl("shutdown")
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"supervisord did not exit in {timeout}s\n{self.logs()}") from None

    def force_cleanup(self) -> None:
        """Last resort after a failed test: kill every process of the stack."""
        if self._events is not None:
            self._events.close()
            self._events = None
        for process in self.stack_processes():
            with contextlib.suppress(psutil.Error):
                process.kill()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def logs(self, tail: int = 4000) -> str:
        parts = []
        for path in sorted((self.root / "var" / "log").glob("*.log")):
            text = path.read_text(errors="replace")[-tail:]
            parts.append(f"===== {path.name}\n{text}")
        return "\n".join(parts)

    # ------------------------------------------------------------------ client side

    @property
    def client(self) -> Any:
        if self._client is None:
            from cpe.client import Client
            from cpe.config import load_settings

            self._client = Client(load_settings(self.root / "cpe.yaml"), "demo")
        return self._client

    @property
    def events(self) -> EventLog:
        if self._events is None:
            self._events = EventLog(self.client)
        return self._events

    def job_input(self, name: str, **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / name).read_text(encoding="utf-8"))
        data.update(overrides)
        return data

    def workflow_of(self, plan: str) -> tuple[str, str]:
        raw = yaml.safe_load((self.root / plan).read_text(encoding="utf-8"))
        return str(raw["name"]), str(raw["version"])

    def submit(self, plan: str, job_file: str, **overrides: Any) -> str:
        """Start one job of ``plan`` (a path under plans/) with a job file's data."""
        self.events  # noqa: B018  (listen before the first event can arrive)
        name, version = self.workflow_of(plan)
        job_id: str = self.client.start_job(
            self.job_input(job_file, **overrides), workflow=(name, version)
        )
        return job_id

    def swf(self) -> Any:
        return make_client("swf", self.endpoint_url)

    def history(self, job_id: str) -> list[dict[str, Any]]:
        """Every event of the job's (only) run, all pages."""
        swf = self.swf()
        workflow_id = f"demo.{job_id}"
        run_id = self._run_id(swf, workflow_id)
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "domain": "cpe",
            "execution": {"workflowId": workflow_id, "runId": run_id},
        }
        while True:
            page = swf.get_workflow_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextPageToken"):
                return events
            kwargs["nextPageToken"] = page["nextPageToken"]

    def runs_of(self, swf: Any, workflow_id: str) -> list[dict[str, Any]]:
        window = {"oldestDate": 0}
        runs: list[dict[str, Any]] = []
        for call in (swf.list_open_workflow_executions, swf.list_closed_workflow_executions):
            page = call(
                domain="cpe",
                startTimeFilter=window,
                executionFilter={"workflowId": workflow_id},
            )
            runs += page["executionInfos"]
        return runs

    def _run_id(self, swf: Any, workflow_id: str) -> str:
        runs = self.runs_of(swf, workflow_id)
        assert len(runs) == 1, f"{workflow_id}: expected one run, found {len(runs)}"
        run_id: str = runs[0]["execution"]["runId"]
        return run_id

    def ledger(self, job_id: str) -> list[dict[str, Any]]:
        path = self.root / "var" / "output" / job_id / "ledger.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def scheduled_activity_ids(history: list[dict[str, Any]]) -> list[str]:
    return [
        e["activityTaskScheduledEventAttributes"]["activityId"]
        for e in history
        if e["eventType"] == "ActivityTaskScheduled"
    ]


def assert_no_duplicate_steps(stack: SupervisedStack, job_id: str) -> list[str]:
    """One ActivityTaskScheduled per activityId, and at most one execution per activityId."""
    ids = scheduled_activity_ids(stack.history(job_id))
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"job {job_id}: activityIds scheduled twice: {duplicates}"
    executed = [entry["activityId"] for entry in stack.ledger(job_id)]
    ran_twice = sorted({i for i in executed if executed.count(i) > 1})
    assert not ran_twice, f"job {job_id}: activities executed twice: {ran_twice}"
    return ids


@contextlib.contextmanager
def running_stack(tmp_path: Path, **options: Any) -> Iterator[SupervisedStack]:
    """A started stack, shut down (and checked for leftovers) afterwards."""
    stack = SupervisedStack.prepare(tmp_path, **options)
    try:
        stack.start()
        yield stack
        stack.shutdown()
        leftovers = wait_for_no_leftovers(stack)
        assert not leftovers, f"processes left after shutdown: {leftovers}"
    except BaseException:
        print(stack.logs(), file=sys.stderr)
        raise
    finally:
        stack.force_cleanup()


def wait_for_no_leftovers(stack: SupervisedStack, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in stack.stack_processes()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)
