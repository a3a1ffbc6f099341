"""Helpers for the emulator suite: a registered domain and small drivers for runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.emulator import EmulatorProcess

DOMAIN = "conformance"
DECISIONS = "decisions"
ACTIVITIES = "activities"
WF_TYPE = {"name": "Flow", "version": "1"}
ACT_TYPE = {"name": "Work", "version": "1"}


class Swf:
    """A boto3 SWF client on one domain plus the few steps every conformance test repeats."""

    def __init__(self, emulator: EmulatorProcess, domain: str = DOMAIN) -> None:
        self.emulator = emulator
        self.domain = domain
        self.client = emulator.client("swf")

    def setup(self, **activity_defaults: str) -> None:
        self.client.register_domain(name=self.domain, workflowExecutionRetentionPeriodInDays="1")
        self.client.register_workflow_type(
            domain=self.domain,
            defaultTaskList={"name": DECISIONS},
            defaultExecutionStartToCloseTimeout="3600",
            defaultTaskStartToCloseTimeout="60",
            defaultChildPolicy="TERMINATE",
            **WF_TYPE,
        )
        defaults = {
            "defaultTaskHeartbeatTimeout": "NONE",
            "defaultTaskScheduleToCloseTimeout": "NONE",
            "defaultTaskScheduleToStartTimeout": "NONE",
            "defaultTaskStartToCloseTimeout": "NONE",
            **activity_defaults,
        }
        self.client.register_activity_type(
            domain=self.domain, defaultTaskList={"name": ACTIVITIES}, **ACT_TYPE, **defaults
        )

    def start(self, workflow_id: str | None = None, **kw: Any) -> dict[str, str]:
        workflow_id = workflow_id or uuid.uuid4().hex
        run = self.client.start_workflow_execution(
            domain=self.domain, workflowId=workflow_id, workflowType=WF_TYPE, **kw
        )
        return {"workflowId": workflow_id, "runId": run["runId"]}

    def poll_decision(self, **kw: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.client.poll_for_decision_task(
            domain=self.domain, taskList={"name": DECISIONS}, **kw
        )
        return result

    def poll_activity(self) -> dict[str, Any]:
        result: dict[str, Any] = self.client.poll_for_activity_task(
            domain=self.domain, taskList={"name": ACTIVITIES}
        )
        return result

    def decide(self, token: str, *decisions: dict[str, Any]) -> None:
        self.client.respond_decision_task_completed(taskToken=token, decisions=list(decisions))

    def history(self, execution: dict[str, str]) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("get_workflow_execution_history")
        return [
            e for p in pages.paginate(domain=self.domain, execution=execution) for e in p["events"]
        ]

    def types(self, execution: dict[str, str]) -> list[str]:
        return [event["eventType"] for event in self.history(execution)]

    def describe(self, execution: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = self.client.describe_workflow_execution(
            domain=self.domain, execution=execution
        )
        return result


def schedule(activity_id: str = "a1", **attributes: Any) -> dict[str, Any]:
    return {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {
            "activityId": activity_id,
            "activityType": ACT_TYPE,
            **attributes,
        },
    }


def complete(result: str = "done") -> dict[str, Any]:
    return {
        "decisionType": "CompleteWorkflowExecution",
        "completeWorkflowExecutionDecisionAttributes": {"result": result},
    }


@pytest.fixture(scope="module")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One emulator per test module (starting one costs ~1 s); tests isolate by domain."""
    tmp_path = tmp_path_factory.mktemp("emulator")
    with EmulatorProcess.start(tmp_path, "--poll-timeout", "2") as emulator:
        yield emulator


@pytest.fixture
def swf(shared_emulator: EmulatorProcess) -> Swf:
    """A fresh domain (so fresh task lists) on the module's emulator."""
    helper = Swf(shared_emulator, f"d-{uuid.uuid4().hex[:12]}")
    helper.setup()
    return helper
