"""What the client CLI shows: pure formatting of events, statuses and job lists.

:class:`JobView` folds a job's events into per-step progress and renders it as bars (for a
terminal) or as one plain line per event (for logs and pipes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cpe import messages

BAR_WIDTH = 24
_STATUS_OF_EVENT = {
    messages.ACTIVITY_SCHEDULED: "scheduled",
    messages.ACTIVITY_STARTED: "started",
    messages.ACTIVITY_PREPARING: "preparing",
    messages.ACTIVITY_PROGRESS: "running",
    messages.ACTIVITY_FINISHING: "finishing",
    messages.ACTIVITY_COMPLETED: "completed",
    messages.ACTIVITY_FAILED: "failed",
    messages.ACTIVITY_CANCELED: "canceled",
    messages.ACTIVITY_TIMED_OUT: "timed_out",
    messages.ACTIVITY_RETRYING: "retrying",
}
EXIT_OF_FINAL = {
    messages.WORKFLOW_COMPLETED: 0,
    messages.WORKFLOW_FAILED: 1,
    messages.WORKFLOW_CANCELED: 2,
}


def percent_of(progress: Any) -> float | None:
    """A progress value as a percentage: a number is one; a dict may carry percent/progress."""
    if isinstance(progress, Mapping):
        progress = progress.get("percent", progress.get("progress"))
    if isinstance(progress, bool) or not isinstance(progress, (int, float)):
        return None
    return max(0.0, min(100.0, float(progress)))


def bar(percent: float | None, width: int = BAR_WIDTH) -> str:
    if percent is None:  # no progress reported (yet): an empty bar, no number
        return "[" + "-" * width + "]      "
    filled = round(width * percent / 100)
    return "[" + "#" * filled + "-" * (width - filled) + f"] {percent:5.1f}%"


@dataclass
class StepLine:
    activity_id: str
    status: str = "scheduled"
    percent: float | None = None


class JobView:
    """A job's progress folded from its events, in the order steps first appeared."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.steps: dict[str, StepLine] = {}
        self.final: dict[str, Any] | None = None

    def apply(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("type"))
        if kind in EXIT_OF_FINAL:
            self.final = dict(event)
            return
        activity = event.get("data", {}).get("activity")
        if kind not in _STATUS_OF_EVENT or not isinstance(activity, Mapping):
            return
        activity_id = str(activity.get("activityId"))
        line = self.steps.setdefault(activity_id, StepLine(activity_id))
        line.status = _STATUS_OF_EVENT[kind]
        if kind == messages.ACTIVITY_PROGRESS:
            line.percent = percent_of(activity.get("progress"))
        elif kind == messages.ACTIVITY_COMPLETED:
            line.percent = 100.0

    @property
    def exit_code(self) -> int | None:
        return EXIT_OF_FINAL.get(str(self.final["type"])) if self.final else None

    def render(self) -> list[str]:
        """Bars, one line per activity, then the job's outcome once it is known."""
        width = max([len(s) for s in self.steps] + [8])
        lines = [
            f"{line.activity_id:<{width}} {bar(_shown_percent(line))} {line.status}"
            for line in self.steps.values()
        ]
        if self.final is not None:
            lines.append(final_line(self.final))
        return lines


def _shown_percent(line: StepLine) -> float | None:
    return 100.0 if line.status == "completed" else line.percent


def final_line(event: Mapping[str, Any]) -> str:
    kind = str(event.get("type"))
    data = event.get("data", {})
    if kind == messages.WORKFLOW_FAILED:
        return f"job {event.get('jobId')} FAILED: {data.get('reason')}: {data.get('details')}"
    if kind == messages.WORKFLOW_COMPLETED:
        return f"job {event.get('jobId')} COMPLETED: result {json.dumps(data.get('result'))}"
    return f"job {event.get('jobId')} {kind.removeprefix('WORKFLOW_')}"


def event_line(event: Mapping[str, Any]) -> str:
    """One plain line per event: time, type, activity and what matters about it."""
    kind = str(event.get("type"))
    if kind in EXIT_OF_FINAL:
        return f"{_clock(event.get('time'))} {final_line(event)}"
    data = _mapping(event.get("data"))
    activity = _mapping(data.get("activity"))
    parts = [_clock(event.get("time")), kind]
    if activity:
        parts.append(str(activity.get("activityId")))
    if kind == messages.ACTIVITY_PROGRESS:
        parts.append(json.dumps(activity.get("progress")))
    elif kind in (
        messages.ACTIVITY_FAILED,
        messages.ACTIVITY_CANCELED,
        messages.ACTIVITY_TIMED_OUT,
    ):
        result = activity.get("result") or {}
        parts.append(f"{result.get('reason')}: {result.get('details')}")
    elif kind == messages.COMMAND_REJECTED:
        parts.append(f"{event.get('reason')}: {event.get('details')}")
    return " ".join(parts)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _clock(stamp: Any) -> str:
    if not isinstance(stamp, (int, float)):
        return "--:--:--"
    return datetime.fromtimestamp(stamp, UTC).strftime("%H:%M:%S")


def status_lines(answer: Mapping[str, Any]) -> list[str]:
    """A JOB_STATUS answer as a short report: job status, then one line per step."""
    data = answer.get("data", {})
    workflow = data.get("workflowType") or {}
    lines = [
        f"job {answer.get('jobId')}: {data.get('status')}"
        f" ({workflow.get('name')} {workflow.get('version')}, run {data.get('workflow', {}).get('runId')})"
    ]
    if data.get("reason"):
        lines.append(f"  reason: {data['reason']}: {data.get('details')}")
    steps = data.get("steps", [])
    width = max([len(str(s.get("name"))) for s in steps] + [4])
    lines += [
        f"  {s.get('name')!s:<{width}}  {s.get('status'):<10}  attempts {s.get('attempts', 0)}"
        for s in steps
    ]
    return lines


def jobs_lines(jobs: Sequence[Mapping[str, Any]]) -> list[str]:
    """A job list as a table, newest first."""
    if not jobs:
        return ["no jobs"]
    width = max(len(str(j.get("jobId"))) for j in jobs)
    header = f"{'JOB':<{width}}  {'STATUS':<11}  {'STARTED (UTC)':<19}  WORKFLOW"
    rows = [
        f"{j.get('jobId')!s:<{width}}  {j.get('status')!s:<11}  {_date(j.get('startTime')):<19}  "
        f"{j.get('workflowType', {}).get('name')}:{j.get('workflowType', {}).get('version')}"
        for j in jobs
    ]
    return [header, *rows]


def _date(stamp: Any) -> str:
    if not isinstance(stamp, (int, float)):
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
