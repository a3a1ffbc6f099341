"""The activity poller's pure parts: which activities it runs, their timeouts, its start-up errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from cpe import activity_poller
from cpe.activities import HandlerImportError, load_handler
from cpe.activity_poller import StartupError, apply_plan_timeouts, build_runnable, select_activities
from cpe.config import ActivitySettings, Settings, load_settings
from cpe.runner import heartbeat_interval

PLAN = """
name: P
version: "1"
activities:
  - {name: A, version: "1", heartbeat_timeout: "6", start_to_close_timeout: "99"}
steps:
  - {name: S, activity: A}
"""


def settings(tmp_path: Path, plans: bool = False) -> Settings:
    config = {
        "domain": "d",
        "plans": ["plans/"],
        "activities": [
            {"name": "A", "version": "1", "handler": "json:dumps", "heartbeat_timeout": 30},
            {"name": "A", "version": "2", "handler": "json:loads", "task_list": "shared"},
            {"name": "B", "version": "1", "command": ["./tools/b.sh", "-x"], "task_list": "shared"},
        ],
    }
    (tmp_path / "plans").mkdir(exist_ok=True)
    if plans:
        (tmp_path / "plans" / "p.yaml").write_text(PLAN)
    path = tmp_path / "cpe.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_settings(path)


def keys(activities: list[ActivitySettings]) -> list[tuple[str, str]]:
    return [(a.name, a.version) for a in activities]


def test_select_by_activity_and_task_list(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert keys(select_activities(s, [], [])) == [("A", "1"), ("A", "2"), ("B", "1")]
    assert keys(select_activities(s, ["A"], [])) == [("A", "1"), ("A", "2")]
    assert keys(select_activities(s, ["A:2", "B"], [])) == [("A", "2"), ("B", "1")]
    assert keys(select_activities(s, [], ["shared"])) == [("A", "2"), ("B", "1")]
    with pytest.raises(StartupError):
        select_activities(s, ["Nope"], [])


def test_command_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    s = settings(tmp_path)
    runnable = build_runnable(s.activities[2], s)
    assert runnable.command == (str(tmp_path / "tools" / "b.sh"), "-x")
    assert runnable.handler is None


def test_plan_timeouts_win_and_heartbeat_follows_the_shorter(tmp_path: Path) -> None:
    s = settings(tmp_path, plans=True)
    first, second = apply_plan_timeouts([build_runnable(a, s) for a in s.activities[:2]], s)
    assert first.timeouts["start_to_close_timeout"] == "99"
    assert first.beat_timeout == "6"
    assert heartbeat_interval(first.beat_timeout) == 2.0
    assert second.timeouts["heartbeat_timeout"] == "60"  # not in any plan: the config's


def test_broken_plans_do_not_stop_the_worker(tmp_path: Path) -> None:
    s = settings(tmp_path)
    (tmp_path / "plans" / "bad.yaml").write_text("name: [")
    runnables = [build_runnable(s.activities[0], s)]
    assert apply_plan_timeouts(runnables, s) == runnables


def test_handler_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(HandlerImportError, match="cannot import 'no_such_mod'"):
        load_handler("no_such_mod:run")
    with pytest.raises(HandlerImportError, match="no attribute"):
        load_handler("json:nope")
    with pytest.raises(HandlerImportError, match="not callable"):
        load_handler("json:__doc__")


def test_startup_error_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = logging.getLogger()  # main() configures logging; give it back afterwards
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    settings(tmp_path)
    config = tmp_path / "cpe.yaml"
    config.write_text(config.read_text().replace("json:dumps", "no_such_mod:run"))
    assert activity_poller.main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "no_such_mod" in err and "Traceback" not in err
