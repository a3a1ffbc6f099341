"""A poller process for the concurrency tests: poll one task list until an empty poll.

Usage: python poller_worker.py ENDPOINT activity|decision DOMAIN TASK_LIST
Prints one JSON list of the task identities it was handed (after completing each task).
"""

from __future__ import annotations

import json
import sys

import boto3


def main(endpoint: str, kind: str, domain: str, task_list: str) -> None:
    swf = boto3.client(
        "swf",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    seen: list[str] = []
    while True:
        if kind == "activity":
            task = swf.poll_for_activity_task(domain=domain, taskList={"name": task_list})
            if not task.get("taskToken"):
                break
            seen.append(f"{task['workflowExecution']['runId']}/{task['activityId']}")
            swf.respond_activity_task_completed(taskToken=task["taskToken"])
        else:
            task = swf.poll_for_decision_task(domain=domain, taskList={"name": task_list})
            if not task.get("taskToken"):
                break
            seen.append(task["workflowExecution"]["runId"])
            done = {"decisionType": "CompleteWorkflowExecution"}
            swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[done])
    print(json.dumps(seen))


if __name__ == "__main__":
    main(*sys.argv[1:5])
