"""Run real CPE daemons as subprocesses against a test emulator.

    config = write_config(tmp_path, emulator.endpoint_url, plans=[plan_file], activities=[...])
    with DaemonSet(config) as daemons:
        daemons.start("decider")
        daemons.start("input-poller")
        daemons.start("activity-poller", "--task-list", "Echo-1")
        ...
        daemons.kill("decider")       # SIGKILL, like a crash
        daemons.start("decider")      # and back

Every daemon is ``python -m cpe.cli <command> --config <file>``, its stderr written to a log
file under the test's tmp_path (printed when a test fails via ``DaemonSet.logs()``). On exit
every daemon still running is killed with its whole process group, so no test leaves a process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

DEFAULT_CLIENT = {"name": "test", "queues": {"input": "test-input", "output": "test-output"}}


def write_config(
    directory: Path,
    endpoint_url: str,
    *,
    plans: Sequence[str | Path] = (),
    clients: Sequence[dict[str, Any]] = (DEFAULT_CLIENT,),
    activities: Sequence[dict[str, Any]] = (),
    domain: str = "cpe-test",
    worker: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a cpe.yaml for a test stack and return its path."""
    config: dict[str, Any] = {
        "aws": {"region": "us-east-1", "endpoint_url": endpoint_url},
        "domain": domain,
        "decider": {"task_list": "cpe-decisions"},
        "plans": [str(p) for p in plans],
        "clients": [dict(c) for c in clients],
        "activities": [dict(a) for a in activities],
    }
    if worker:
        config["worker"] = worker
    config.update(extra or {})
    path = directory / "cpe.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def daemon_env() -> dict[str, str]:
    """The environment for a daemon: no developer AWS settings, unbuffered output, dummy keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CPE_"))}
    env.update(
        PYTHONUNBUFFERED="1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        CPE_LOG_LEVEL="DEBUG",
    )
    return env


class DaemonSet:
    def __init__(self, config: Path, log_dir: Path | None = None) -> None:
        self.config = config
        self.log_dir = log_dir or config.parent
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._counter = 0

    def start(self, command: str, *args: str, name: str | None = None) -> subprocess.Popen[bytes]:
        """Start ``cpe <command> --config <config> <args>``; ``name`` tells several apart."""
        key = name or command
        self._counter += 1
        log_path = self.log_dir / f"{key}.{self._counter}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "cpe.cli", command, "--config", str(self.config), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=daemon_env(),
                cwd=self.config.parent,
                start_new_session=True,  # its own group, so cleanup takes its children too
            )
        self.processes[key] = process
        return process

    def signal(self, name: str, signum: int) -> None:
        self.processes[name].send_signal(signum)

    def kill(self, name: str) -> None:
        """SIGKILL the daemon alone (not its group): a crash, children left to its own cleanup."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=10)

    def stop(self, name: str, timeout: float = 30) -> int:
        """TERM and wait; returns the exit code."""
        process = self.processes.pop(name)
        process.terminate()
        return process.wait(timeout=timeout)

    def alive(self, name: str) -> bool:
        return self.processes[name].poll() is None

    def logs(self) -> str:
        return "\n".join(
            f"===== {path.name}\n{path.read_text(errors='replace')[-6000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()

    def __enter__(self) -> DaemonSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            print(self.logs(), file=sys.stderr)
        self.close()
