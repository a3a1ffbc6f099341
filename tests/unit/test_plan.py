"""Plan loading: original syntax loads unmodified; the model is what the decider relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpe.errors import PlanError
from cpe.plan import Requirement, load_plans, parse_plan

ORIGINAL = """
name: Transcode
version: 1.10
default_execution_start_to_close_timeout: "2592000"
default_task_start_to_close_timeout: 300
input_spec: {type: object, required: [client]}
activities:
  - name: ValidateAsset
    version: v2
    heartbeat_timeout: "60"
    schedule_to_close_timeout: "518400"
    schedule_to_start_timeout: "43200"
    start_to_close_timeout: 432000
    outputs_spec: {metadata: "$"}
  - name: TranscodeAsset
    version: 1.0
steps:
  - name: TranscodeAssetStep
    activity: TranscodeAsset
    requires: [[ValidateAssetStep, succeeded]]
    input: |
      {"client": {{__input__.client}}, "meta": {{ValidateAssetStep.metadata}}}
  - name: ValidateAssetStep
    activity: ValidateAsset
    input: |
      {{__input__}}
"""


def test_original_plan_loads_with_strings_and_any_order() -> None:
    plan = parse_plan(ORIGINAL, "t.yaml")
    assert (plan.name, plan.version) == ("Transcode", "1.10")
    assert plan.default_execution_start_to_close_timeout == "2592000"
    assert plan.default_task_start_to_close_timeout == "300"
    validate = plan.activities["ValidateAsset"]
    assert validate.task_list == "ValidateAsset-v2"
    assert validate.start_to_close_timeout == "432000"
    transcode = plan.activities["TranscodeAsset"]
    assert transcode.version == "1.0"
    assert transcode.heartbeat_timeout == "NONE"
    assert plan.order == ("ValidateAssetStep", "TranscodeAssetStep")
    assert plan.step_by_name["TranscodeAssetStep"].requires == (
        Requirement("ValidateAssetStep", "succeeded"),
    )


def test_defaults_for_workflow_timeouts() -> None:
    plan = parse_plan("name: n\nversion: v\nactivities: []\nsteps: []\n", "t.yaml")
    assert plan.default_execution_start_to_close_timeout == "86400"
    assert plan.default_task_start_to_close_timeout == "300"


def test_validate_input() -> None:
    plan = parse_plan(ORIGINAL, "t.yaml")
    assert plan.validate_input({"client": "x"}) == []
    assert plan.validate_input({}) == ["(root): 'client' is a required property"]


def test_load_plans_directory_reports_every_bad_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(ORIGINAL)
    (tmp_path / "bad1.yml").write_text("name: x\n")
    (tmp_path / "bad2.yaml").write_text("[1, 2]\n")
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.raises(PlanError) as caught:
        load_plans(tmp_path)
    text = str(caught.value)
    assert "bad1.yml: missing required key 'activities'" in text
    assert "bad2.yaml: a plan must be a mapping, got list" in text
    (tmp_path / "bad1.yml").unlink()
    (tmp_path / "bad2.yaml").unlink()
    plans = load_plans("good.yaml", base_dir=tmp_path)
    assert list(plans) == [("Transcode", "1.10")]


def test_duplicate_plan_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(ORIGINAL)
    (tmp_path / "b.yaml").write_text(ORIGINAL)
    with pytest.raises(PlanError, match=r"b.yaml: version: plan 'Transcode' version '1.10'"):
        load_plans([tmp_path / "a.yaml", tmp_path / "b.yaml"])
