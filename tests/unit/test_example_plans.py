"""The shipped plans/ and cpe.yaml work together: every plan passes `cpe plan check`, and
every activity a plan schedules is served by the pool (same name, version and task list)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cpe.config import load_settings
from cpe.plan import load_plans

REPO = Path(__file__).resolve().parents[2]
PLANS = sorted((REPO / "plans").glob("*.yaml"))


def test_there_are_at_least_three_example_plans() -> None:
    assert len(PLANS) >= 3


def test_cpe_plan_check_passes_on_every_example_plan() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cpe.cli", "plan", "check", *map(str, PLANS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("plan_file", PLANS, ids=lambda p: p.name)
def test_every_activity_of_the_plan_is_served_by_the_pool(plan_file: Path) -> None:
    settings = load_settings(REPO / "cpe.yaml")
    (plan,) = load_plans(plan_file).values()
    for activity in plan.activities.values():
        served = settings.activity(activity.name, activity.version)
        assert served is not None, f"{plan_file.name}: {activity.name} not in cpe.yaml"
        assert served.task_list == activity.task_list, activity.name


def test_the_shipped_config_loads_all_plans() -> None:
    settings = load_settings(REPO / "cpe.yaml")
    plans = load_plans([str(p) for p in settings.plans])
    assert {name for name, _ in plans} == {"CsvReport", "VerifiedCopy", "WordCount"}
