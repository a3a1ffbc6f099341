"""Crashes mid-run (SIGKILL, no chance to clean up): supervisord restarts the program, every
job still ends the way its plan says, and no step is scheduled or executed twice."""

from __future__ import annotations

import os
import signal

import psutil

from tests.e2e.harness import SupervisedStack, assert_no_duplicate_steps, wait_for

JOB_TIMEOUT = 120


def started(stack: SupervisedStack, job: str, prefix: str) -> bool:
    return any(
        e["type"] == "ACTIVITY_STARTED" and e["data"]["activity"]["activityId"].startswith(prefix)
        for e in stack.events.of(job)
    )


def completed_steps(stack: SupervisedStack, job: str) -> int:
    return stack.events.types(job).count("ACTIVITY_COMPLETED")


def word_counts_complete(stack: SupervisedStack, jobs: list[str]) -> None:
    finals = stack.events.wait_all_final(jobs, timeout=JOB_TIMEOUT)
    for job, final in finals.items():
        assert final["type"] == "WORKFLOW_COMPLETED", final
        assert final["data"]["result"]["files"] == 4
        assert_no_duplicate_steps(stack, job)


def kill_task_children(stack: SupervisedStack) -> list[int]:
    children: list[psutil.Process] = wait_for(
        stack.task_children, 10, "a task child process of the pool"
    )
    for child in children:
        os.kill(child.pid, signal.SIGKILL)
    return [child.pid for child in children]


def test_killed_task_child_is_retried_or_fails_its_job_with_a_clear_reason(
    stack: SupervisedStack,
) -> None:
    # No retry in the CSV plan: the job fails, naming the step and the signal.
    job = stack.submit("plans/csv-report.yaml", "examples/jobs/csv-report.json", pace_seconds=20)
    stack.events.wait(lambda: started(stack, job, "SummarizeCsvStep"), 60, "SummarizeCsv start")
    kill_task_children(stack)
    final = stack.events.wait_final(job, JOB_TIMEOUT)
    assert final["type"] == "WORKFLOW_FAILED", final
    assert "SummarizeCsvStep" in final["data"]["reason"]
    assert "SIGKILL" in final["data"]["reason"] + final["data"]["details"], final
    assert_no_duplicate_steps(stack, job)

    # CountWords retries: the job completes anyway.
    job = stack.submit("plans/word-count.yaml", "examples/jobs/word-count.json", pace_seconds=6)
    stack.events.wait(lambda: started(stack, job, "CountWordsStep["), 60, "CountWords start")
    kill_task_children(stack)
    word_counts_complete(stack, [job])
    assert any(
        "#2" in e["data"]["activity"]["activityId"]
        for e in stack.events.of(job)
        if e["type"] == "ACTIVITY_STARTED"
    )


def test_killed_activity_poller_loses_no_job(stack: SupervisedStack) -> None:
    jobs = [
        stack.submit("plans/word-count.yaml", "examples/jobs/word-count.json", pace_seconds=4)
        for _ in range(2)
    ]
    stack.events.wait(lambda: started(stack, jobs[0], "CountWordsStep["), 60, "CountWords start")
    busy = [p for p in stack.pool_programs() if psutil.Process(stack.pid(p)).children()]
    program = busy[0] if busy else stack.pool_programs()[0]
    old = stack.kill_program(program)
    stack.wait_restarted(program, old)
    word_counts_complete(stack, jobs)  # the lost task times out on its heartbeat and is retried


def test_killed_decider_loses_no_job(stack: SupervisedStack) -> None:
    jobs = [
        stack.submit("plans/word-count.yaml", "examples/jobs/word-count.json", pace_seconds=2)
        for _ in range(3)
    ]
    stack.events.wait(lambda: completed_steps(stack, jobs[0]) >= 1, 60, "a first step")
    old = stack.kill_program("decider")
    stack.wait_restarted("decider", old)
    word_counts_complete(stack, jobs)


def test_killed_input_poller_loses_no_job(stack: SupervisedStack) -> None:
    jobs = [
        stack.submit("plans/csv-report.yaml", "examples/jobs/csv-report.json") for _ in range(10)
    ]
    stack.events.wait(
        lambda: "WORKFLOW_SCHEDULED" in stack.events.types(jobs[0]), 60, "a first job scheduled"
    )
    old = stack.kill_program("input-poller")
    stack.wait_restarted("input-poller", old)
    finals = stack.events.wait_all_final(jobs, timeout=JOB_TIMEOUT)
    assert {f["type"] for f in finals.values()} == {"WORKFLOW_COMPLETED"}
    for job in jobs:
        assert_no_duplicate_steps(stack, job)  # also asserts exactly one run per job


def test_killed_emulator_restarts_from_its_state_file_and_jobs_complete(
    stack: SupervisedStack,
) -> None:
    jobs = [
        stack.submit("plans/word-count.yaml", "examples/jobs/word-count.json", pace_seconds=2)
        for _ in range(3)
    ]
    stack.events.wait(lambda: completed_steps(stack, jobs[0]) >= 1, 60, "a first step")
    old = stack.kill_program("emulator")
    stack.wait_restarted("emulator", old)
    # Without the state file the runs would be gone and these jobs could never end.
    finals = stack.events.wait_all_final(jobs, timeout=JOB_TIMEOUT)
    for job, final in finals.items():
        assert final["type"] == "WORKFLOW_COMPLETED", final
        history_ids = [e["eventType"] for e in stack.history(job)]
        assert history_ids[0] == "WorkflowExecutionStarted"
