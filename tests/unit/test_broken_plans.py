"""The broken-plan corpus: each file produces exactly the messages listed for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cpe import plan_cli

CORPUS = Path(__file__).parent / "broken_plans"
EXPECTED: dict[str, list[str]] = yaml.safe_load(
    (Path(__file__).parent / "broken_plans_expected.yaml").read_text()
)


def test_corpus_is_complete() -> None:
    files = sorted(path.name for path in CORPUS.glob("*.yaml"))
    assert len(files) >= 25
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_prints_exact_messages(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / name
    assert plan_cli.main(["check", str(path)]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"{path}: {message}" for message in EXPECTED[name]]


def test_check_fails_if_any_file_is_bad(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: n\nversion: 1\nactivities: []\nsteps: []\n")
    assert plan_cli.main(["check", str(good)]) == 0
    assert plan_cli.main(["check", str(good), str(CORPUS / "07_unknown_activity.yaml")]) == 1
    out = capsys.readouterr().out
    assert f"{good}: ok" in out
    assert "07_unknown_activity.yaml: steps[0].activity: unknown activity 'Nope'" in out


def test_graph_formats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(
        "name: n\nversion: 1\nactivities: [{name: A, version: 1}]\nsteps:\n"
        "  - {name: S1, activity: A}\n  - {name: S2, activity: A, requires: [[S1, failed]]}\n"
    )
    assert plan_cli.main(["graph", str(plan)]) == 0
    assert "s0 -->|failed| s1" in capsys.readouterr().out
    assert plan_cli.main(["graph", str(plan), "--format", "dot"]) == 0
    assert '"S1" -> "S2" [label="failed"];' in capsys.readouterr().out
