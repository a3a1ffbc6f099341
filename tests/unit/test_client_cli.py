"""Client CLI: workflow resolution, progress rendering, tables, and one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cpe import client_cli
from cpe.client_view import JobView, bar, event_line, jobs_lines, percent_of, status_lines
from cpe.plan import Plan


def fake_plans(*keys: tuple[str, str]) -> dict[tuple[str, str], Plan]:
    return {key: None for key in keys}  # type: ignore[misc]  # only the keys are looked at


def activity_event(kind: str, activity_id: str, **fields: Any) -> dict[str, Any]:
    activity = {"activityId": activity_id, "activityType": {"name": "A", "version": "1"}, **fields}
    return {"time": 0, "type": kind, "jobId": "j", "data": {"workflow": {}, "activity": activity}}


def test_resolve_workflow_by_name_version_and_single_version() -> None:
    plans = fake_plans(("Transcode", "1.0"), ("Transcode", "2.0"), ("Echo", "1"))
    assert client_cli.resolve_workflow("Transcode:2.0", plans) == ("Transcode", "2.0")
    assert client_cli.resolve_workflow("Echo", plans) == ("Echo", "1")
    with pytest.raises(ValueError, match=r"give one of the versions 1\.0, 2\.0"):
        client_cli.resolve_workflow("Transcode", plans)
    with pytest.raises(ValueError, match="unknown workflow 'Nope'"):
        client_cli.resolve_workflow("Nope", plans)


def test_resolve_workflow_from_a_plan_file() -> None:
    plan_file = Path(__file__).parents[1] / "integration" / "plans" / "input_echo.yaml"
    assert client_cli.resolve_workflow(str(plan_file), {}) == ("InputEcho", "1.0")


def test_progress_values() -> None:
    assert percent_of(42) == 42.0
    assert percent_of({"percent": 150}) == 100.0
    assert percent_of("half") is None
    assert percent_of(True) is None
    assert bar(50.0, width=10) == "[#####-----]  50.0%"
    assert bar(None, width=4) == "[----]      "


def test_job_view_folds_events_and_knows_the_exit_code() -> None:
    view = JobView("j")
    view.apply(activity_event("ACTIVITY_SCHEDULED", "First"))
    view.apply(activity_event("ACTIVITY_PROGRESS", "First", progress=25))
    view.apply(activity_event("ACTIVITY_SCHEDULED", "Second"))
    assert view.render() == [
        "First    [######------------------]  25.0% running",
        "Second   [------------------------]       scheduled",
    ]
    assert view.exit_code is None
    view.apply(activity_event("ACTIVITY_COMPLETED", "First"))
    view.apply({"type": "WORKFLOW_FAILED", "jobId": "j", "data": {"reason": "R", "details": "D"}})
    assert view.render()[0].endswith("100.0% completed")
    assert view.render()[-1] == "job j FAILED: R: D"
    assert view.exit_code == 1
    canceled = JobView("k")
    canceled.apply({"type": "WORKFLOW_CANCELED", "jobId": "k", "data": {}})
    assert canceled.exit_code == 2 and canceled.render() == ["job k CANCELED"]


def test_plain_event_lines() -> None:
    failed = activity_event("ACTIVITY_FAILED", "First", result={"reason": "Boom", "details": "d"})
    assert event_line(failed) == "00:00:00 ACTIVITY_FAILED First Boom: d"
    stopped = {"reason": "ActivityTaskCanceled", "details": "killed"}
    canceled = activity_event("ACTIVITY_CANCELED", "First", result=stopped)
    assert event_line(canceled) == "00:00:00 ACTIVITY_CANCELED First ActivityTaskCanceled: killed"
    progress = activity_event("ACTIVITY_PROGRESS", "First", progress={"percent": 5})
    assert event_line(progress) == '00:00:00 ACTIVITY_PROGRESS First {"percent": 5}'
    done = {"time": 0, "type": "WORKFLOW_COMPLETED", "jobId": "j", "data": {"result": [1]}}
    assert event_line(done) == "00:00:00 job j COMPLETED: result [1]"


def test_status_and_jobs_tables() -> None:
    answer = {
        "jobId": "j",
        "data": {
            "workflow": {"runId": "r"},
            "workflowType": {"name": "T", "version": "1"},
            "status": "FAILED",
            "reason": "Step A failed",
            "details": "boom",
            "steps": [{"name": "A", "status": "failed", "attempts": 2}],
        },
    }
    assert status_lines(answer) == [
        "job j: FAILED (T 1, run r)",
        "  reason: Step A failed: boom",
        "  A     failed      attempts 2",
    ]
    rows = jobs_lines(
        [
            {
                "jobId": "j1",
                "status": "OPEN",
                "startTime": 0,
                "workflowType": {"name": "T", "version": "1"},
            }
        ]
    )
    assert rows[1] == "j1  OPEN         1970-01-01 00:00:00  T:1"
    assert jobs_lines([]) == ["no jobs"]


def test_missing_config_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = client_cli.status(["job-1", "--config", str(tmp_path / "missing.yaml")])
    err = capsys.readouterr().err
    assert code == client_cli.EXIT_ERROR
    assert err.count("\n") == 1 and err.startswith("cpe status: error: ")
    assert "missing.yaml" in err and "Traceback" not in err


def test_unreachable_endpoint_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "cpe.yaml"
    config.write_text(
        "aws: {endpoint_url: 'http://127.0.0.1:9'}\ndomain: d\n"
        "clients: [{name: c, queues: {input: i, output: o}}]\n",
        encoding="utf-8",
    )
    code = client_cli.cancel(["job-1", "--config", str(config), "--timeout", "1"])
    err = capsys.readouterr().err
    assert code == client_cli.EXIT_ERROR
    assert err.startswith("cpe cancel: error: cannot reach the endpoint") and err.count("\n") == 1
