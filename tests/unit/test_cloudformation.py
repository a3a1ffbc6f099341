"""docs/cloudformation/*.yaml are valid CloudFormation (cfn-lint) and say what the docs say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cloudformation"
TEMPLATES = sorted(DOCS.glob("*.yaml"))
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


class _CfnLoader(yaml.SafeLoader):
    """Reads the short-form intrinsics (!Ref, !GetAtt, !Sub) as plain tagged values."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: {suffix: loader.construct_scalar(node)},  # type: ignore[arg-type]
)


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    return document


def test_there_is_a_template() -> None:
    assert DOCS / "client-queues.yaml" in TEMPLATES


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_passes(template: Path) -> None:
    result = subprocess.run(
        [str(CFN_LINT), str(template)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_input_queue_redrives_to_its_dead_letter_queue() -> None:
    resources = load(DOCS / "client-queues.yaml")["Resources"]
    redrive = resources["InputQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"GetAtt": "InputDeadLetterQueue.Arn"}
    assert resources["InputDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    assert "RedrivePolicy" not in resources["OutputQueue"]["Properties"]


def test_policies_give_the_client_and_the_stack_opposite_ends_of_each_queue() -> None:
    resources = load(DOCS / "client-queues.yaml")["Resources"]

    def actions(policy: str, sid: str) -> set[str]:
        statements = resources[policy]["Properties"]["PolicyDocument"]["Statement"]
        return {a for s in statements if s["Sid"] == sid for a in s["Action"]}

    assert "sqs:SendMessage" in actions("ClientPolicy", "SendCommands")
    assert "sqs:ReceiveMessage" not in actions("ClientPolicy", "SendCommands")
    assert "sqs:DeleteMessage" in actions("ClientPolicy", "ReadEvents")
    assert "sqs:ReceiveMessage" in actions("StackQueuesPolicy", "ReadCommands")
    assert "sqs:SendMessage" in actions("StackQueuesPolicy", "SendEvents")
    assert "sqs:SendMessage" in actions("StackQueuesPolicy", "KeepRejectedCommands")
