"""Shared fixtures: a per-test emulator process and boto3 clients bound to it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The repo root must be importable as a package root (``tests.support``) however pytest is run.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.emulator import AWS_ENV, EmulatorProcess, make_client


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """A started emulator (2 s long polls, state file under tmp_path, durable answers as in
    supervisord.conf), stopped after the test."""
    state = tmp_path / "emulator-state.pickle"
    args = ("--poll-timeout", "2", "--state-file", str(state), "--durable-answers")
    with EmulatorProcess.start(tmp_path, *args) as emu:
        yield emu


@pytest.fixture
def aws_env(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """Point the standard AWS environment at the emulator; returns ``client(service)``."""
    for key, value in {**AWS_ENV, "AWS_ENDPOINT_URL": emulator.endpoint_url}.items():
        monkeypatch.setenv(key, value)
    return lambda service: make_client(service, emulator.endpoint_url)
