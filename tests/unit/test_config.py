"""cpe.yaml loading: defaults, conversions and errors that name the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpe.config import load_settings, parse_settings
from cpe.errors import ConfigError

MINIMAL = "domain: cpe\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_gets_sane_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    settings = load_settings(write(tmp_path, MINIMAL))
    assert settings.domain == "cpe"
    assert settings.aws.region == "us-east-1"
    assert settings.aws.endpoint_url is None
    assert settings.decider_task_list == "cpe-decisions"
    assert settings.plans == (tmp_path / "plans/",)
    assert settings.worker.grace_period == 30
    assert settings.clients == ()


def test_full_config_is_frozen_and_converted(tmp_path: Path) -> None:
    text = """
aws: {region: eu-west-1, endpoint_url: "http://127.0.0.1:4566"}
domain: prod
decider: {task_list: decisions}
plans: [a.yaml, /abs/b.yaml]
clients:
  - {name: demo, queues: {input: demo-in, output: demo-out}}
activities:
  - {name: Checksum, version: 1.0, handler: "examples.checksum:run", heartbeat_timeout: 30}
  - {name: Shell, version: "2", command: ["sh", "-c", "cat"], memory_limit_mb: 64}
worker: {grace_period: 5}
"""
    settings = load_settings(write(tmp_path, text))
    assert settings.aws.endpoint_url == "http://127.0.0.1:4566"
    assert settings.plans == (tmp_path / "a.yaml", Path("/abs/b.yaml"))
    assert settings.client("demo").output_queue == "demo-out"
    checksum = settings.activity("Checksum", "1.0")
    assert checksum is not None
    assert checksum.task_list == "Checksum-1.0"
    assert checksum.heartbeat_timeout == "30"
    shell = settings.activity("Shell", "2")
    assert (
        shell is not None and shell.command == ("sh", "-c", "cat") and shell.memory_limit_mb == 64
    )
    assert settings.worker.grace_period == 5.0
    with pytest.raises(AttributeError):
        settings.domain = "other"  # type: ignore[misc]


def test_endpoint_comes_from_environment_when_not_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:9999")
    assert load_settings(write(tmp_path, MINIMAL)).aws.endpoint_url == "http://localhost:9999"


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPE_CONFIG", str(write(tmp_path, "domain: from-env\n")))
    assert load_settings().domain == "from-env"


@pytest.mark.parametrize(
    ("text", "key_path", "fragment"),
    [
        ("{}", "", "'domain' is a required property"),
        ("domain: cpe\nbogus: 1\n", "", "Additional properties are not allowed"),
        (
            "domain: cpe\nclients: [{name: 'a.b', queues: {input: i, output: o}}]\n",
            "clients[0].name",
            "does not match",
        ),
        ("domain: cpe\nclients: [{name: a}]\n", "clients[0]", "'queues' is a required property"),
        ("domain: cpe\nactivities: [{name: A, version: '1'}]\n", "activities[0]", "is not valid"),
        (
            "domain: cpe\nactivities: [{name: A, version: '1', handler: 'm:f', heartbeat_timeout: soon}]\n",
            "activities[0].heartbeat_timeout",
            "is not valid",
        ),
        ("domain: cpe\naws: {endpoint_url: 'localhost:1'}\n", "aws.endpoint_url", "does not match"),
        (
            "domain: cpe\nclients: [{name: a, queues: {input: i, output: o}}, {name: a, queues: {input: j, output: p}}]\n",
            "clients[1]",
            "duplicate entry 'a'",
        ),
    ],
)
def test_errors_name_file_and_key_path(
    tmp_path: Path, text: str, key_path: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.key_path == key_path
    assert fragment in caught.value.reason
    assert str(path) in str(caught.value)


def test_unreadable_and_invalid_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "domain: [unclosed\n"))


def test_parse_settings_rejects_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not of type 'object'"):
        parse_settings(["a"], tmp_path / "cpe.yaml")
