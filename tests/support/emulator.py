"""Run the emulator as a separate process for tests.

API (kept small and stable; integration tests depend on it)::

    emu = EmulatorProcess.start(tmp_path, "--poll-timeout", "2", "--state-file", str(path))
    emu.endpoint_url   # "http://127.0.0.1:PORT"
    emu.port, emu.pid
    emu.client("swf")  # a boto3 client bound to it (us-east-1, dummy keys)
    emu.kill()         # SIGKILL, like a crash
    emu.restart()      # same port, same arguments (so the same state file)
    emu.terminate()    # SIGTERM and wait (the emulator writes its state file)
    with EmulatorProcess.start(tmp_path) as emu: ...   # terminated on exit

``start`` waits on the ``emulator ready on ...`` line (never a sleep); the emulator's stderr
goes to ``tmp_path / "emulator.log"`` (see ``log_text()``).

``CPE_TEST_SERVER=stock-moto`` starts stock moto's server instead (its options ignored), to
show which conformance tests stock moto fails: ``CPE_TEST_SERVER=stock-moto pytest
tests/emulator/test_conformance.py`` (docs/emulator.md).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import boto3

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "emulator ready on "
START_TIMEOUT = 15.0
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def make_client(service: str, endpoint_url: str) -> Any:
    """A boto3 client for the emulator: us-east-1, dummy credentials, no retries on errors."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _read_ready_line(stream: IO[str], timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


class EmulatorProcess:
    def __init__(self, tmp_path: Path, args: tuple[str, ...]) -> None:
        self.tmp_path = tmp_path
        self.args = args
        self.port = 0
        self.endpoint_url = ""
        self.process: subprocess.Popen[str] | None = None
        self.log_path = tmp_path / "emulator.log"

    @classmethod
    def start(cls, tmp_path: Path, *extra_args: str) -> EmulatorProcess:
        emulator = cls(tmp_path, tuple(extra_args))
        emulator._launch()
        return emulator

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _launch(self) -> None:
        if os.environ.get("CPE_TEST_SERVER") == "stock-moto":
            command = [sys.executable, "-m", "tests.support.stock_moto_server", str(self.port)]
        else:
            command = [sys.executable, "-m", "emulator", "--port", str(self.port), *self.args]
        env = {**os.environ, **AWS_ENV, "PYTHONPATH": str(REPO_ROOT)}
        with open(self.log_path, "a", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.process.stdout is not None
        line = _read_ready_line(self.process.stdout, START_TIMEOUT)
        if not line.startswith(READY_PREFIX):
            self.kill()
            raise RuntimeError(f"emulator did not start: {line!r}\n{self.log_text()}")
        self.endpoint_url = line[len(READY_PREFIX) :].strip()
        self.port = int(self.endpoint_url.rsplit(":", 1)[1])

    def client(self, service: str) -> Any:
        return make_client(service, self.endpoint_url)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL, like a crash: no final snapshot."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Start again on the same port with the same arguments (hence the same state file)."""
        self.terminate()
        self._launch()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.terminate()
