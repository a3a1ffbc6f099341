"""Stopping the stack the supervisord way while tasks run: tasks finish (or are reported),
and afterwards no process of the stack is left, orphans included."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import SupervisedStack, assert_no_duplicate_steps, running_stack, wait_for

POOL = "activity-pool:*"


def running_tasks(stack: SupervisedStack, job: str) -> set[str]:
    """activityIds the client saw start but not end."""
    state: dict[str, str] = {}
    for event in stack.events.of(job):
        if event["type"].startswith("ACTIVITY_") and "activity" in event.get("data", {}):
            state[event["data"]["activity"]["activityId"]] = event["type"]
    return {a for a, t in state.items() if t in ("ACTIVITY_STARTED", "ACTIVITY_PROGRESS")}


def test_stopping_the_pool_lets_running_tasks_finish_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    with running_stack(tmp_path, pool_size=2) as stack:
        job = stack.submit("plans/word-count.yaml", "examples/jobs/word-count.json", pace_seconds=3)
        in_flight = stack.events.wait(
            lambda: {a for a in running_tasks(stack, job) if a.startswith("CountWords")},
            60,
            "CountWords tasks running",
        )

        stop = stack.ctl("stop", POOL)
        assert stop.returncode == 0, stop.stdout + stop.stderr

        history = stack.history(job)
        closed = {e["eventType"]: e for e in history if e["eventType"].startswith("ActivityTask")}
        ended = {
            attrs["scheduledEventId"]
            for e in history
            for key, attrs in e.items()
            if key in ("activityTaskCompletedEventAttributes", "activityTaskFailedEventAttributes")
        }
        scheduled = {
            e["eventId"]: e["activityTaskScheduledEventAttributes"]["activityId"]
            for e in history
            if e["eventType"] == "ActivityTaskScheduled"
        }
        ended_ids = {scheduled[i] for i in ended}
        assert in_flight <= ended_ids, (in_flight, ended_ids, sorted(closed))
        pollers = [p for p in stack.stack_processes() if "activity-poller" in " ".join(p.cmdline())]
        assert not pollers, f"activity pollers left after stop: {pollers}"

        stack.ctl("start", POOL, check=True)
        final = stack.events.wait_final(job, 120)
        assert final["type"] == "WORKFLOW_COMPLETED", final
        assert_no_duplicate_steps(stack, job)


def test_shutting_down_with_tasks_running_leaves_no_process(tmp_path: Path) -> None:
    # running_stack shuts down with `supervisorctl shutdown` and fails if anything is left.
    with running_stack(tmp_path, pool_size=2) as stack:
        job = stack.submit("plans/word-count.yaml", "examples/jobs/word-count.json", pace_seconds=4)
        stack.events.wait(lambda: running_tasks(stack, job), 60, "a task running")
        assert wait_for(stack.task_children, 10, "task child processes")
