"""End-to-end fixtures: the stack under supervisord, one per test module (starting it costs
a few seconds; each test waits only on its own jobs, so tests in a module do not interfere)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import SupervisedStack, running_stack


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module", autouse=True)
def _no_empty_aws_settings() -> Iterator[None]:
    """tox blanks AWS_PROFILE and AWS_ENDPOINT_URL so no developer setting leaks in; boto3
    reads an empty AWS_PROFILE as a profile named "" and fails, so drop the blank ones here
    (the test process's own SDK client and boto3 clients; the stack gets a clean env)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            if os.environ.get(name) == "":
                patch.delenv(name)
        yield


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupervisedStack]:
    with running_stack(tmp_path_factory.mktemp("e2e"), pool_size=2) as started:
        yield started


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and "stack" in request.fixturenames:
        stack: SupervisedStack = request.getfixturevalue("stack")
        print(stack.ctl("status").stdout, stack.logs(), file=sys.stderr)
