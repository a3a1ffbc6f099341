"""Helpers for the emulator suite: a registered domain and small drivers for runs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.emulator import EmulatorProcess

DOMAIN = "conformance"
DECISIONS = "decisions"
ACTIVITIES = "activities"
WF_TYPE = {"name": "Flow", "version": "1"}
ACT_TYPE = {"name": "Work", "version": "1"}


class Swf:
    """A boto3 SWF client plus the few steps every conformance test repeats."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.client = emulator.client("swf")

    def setup(self, **activity_defaults: str) -> None:
        self.client.register_domain(name=DOMAIN, workflowExecutionRetentionPeriodInDays="1")
        self.client.register_workflow_type(
            domain=DOMAIN,
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
            domain=DOMAIN, defaultTaskList={"name": ACTIVITIES}, **ACT_TYPE, **defaults
        )

    def start(self, workflow_id: str | None = None, **kw: Any) -> dict[str, str]:
        workflow_id = workflow_id or uuid.uuid4().hex
        run = self.client.start_workflow_execution(
            domain=DOMAIN, workflowId=workflow_id, workflowType=WF_TYPE, **kw
        )
        return {"workflowId": workflow_id, "runId": run["runId"]}

    def poll_decision(self, **kw: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.client.poll_for_decision_task(
            domain=DOMAIN, taskList={"name": DECISIONS}, **kw
        )
        return result

    def poll_activity(self) -> dict[str, Any]:
        result: dict[str, Any] = self.client.poll_for_activity_task(
            domain=DOMAIN, taskList={"name": ACTIVITIES}
        )
        return result

    def decide(self, token: str, *decisions: dict[str, Any]) -> None:
        self.client.respond_decision_task_completed(taskToken=token, decisions=list(decisions))

    def history(self, execution: dict[str, str]) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("get_workflow_execution_history")
        return [e for p in pages.paginate(domain=DOMAIN, execution=execution) for e in p["events"]]

    def types(self, execution: dict[str, str]) -> list[str]:
        return [event["eventType"] for event in self.history(execution)]

    def describe(self, execution: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = self.client.describe_workflow_execution(
            domain=DOMAIN, execution=execution
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


@pytest.fixture
def swf(emulator: EmulatorProcess) -> Swf:
    helper = Swf(emulator)
    helper.setup()
    return helper
