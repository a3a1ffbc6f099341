"""Error translation and the retry policy of cpe.aws, and the backoff they share."""

from __future__ import annotations

import random
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from cpe import aws
from cpe.backoff import Backoff
from cpe.errors import (
    AlreadyExists,
    AWSError,
    EndpointUnavailable,
    InvalidRequest,
    Throttled,
    UnknownResource,
)


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "Op")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (client_error("ThrottlingException"), Throttled),
        (client_error("AnythingElse", 503), Throttled),
        (client_error("UnknownResourceFault"), UnknownResource),
        (client_error("AWS.SimpleQueueService.NonExistentQueue"), UnknownResource),
        (client_error("QueueDoesNotExist"), UnknownResource),
        (client_error("TypeAlreadyExistsFault"), AlreadyExists),
        (client_error("WorkflowExecutionAlreadyStartedFault"), AlreadyExists),
        (client_error("ValidationException"), InvalidRequest),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), EndpointUnavailable),
    ],
)
def test_translate_maps_to_the_tree(exc: Exception, kind: type[AWSError]) -> None:
    error = aws.translate("Op", exc)
    assert type(error) is kind
    assert isinstance(error, AWSError)
    assert error.operation == "Op"


def test_call_retries_transient_errors_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws.time, "sleep", lambda _: None)
    outcomes: list[Exception | str] = [
        client_error("ThrottlingException"),
        EndpointConnectionError(endpoint_url="x"),
        "ok",
    ]

    def flaky(**kwargs: Any) -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome + str(kwargs["n"])

    assert aws.call("Op", flaky, n=1) == "ok1"
    assert outcomes == []


def test_call_gives_up_after_bounded_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(aws.time, "sleep", sleeps.append)
    calls = 0

    def always_down() -> None:
        nonlocal calls
        calls += 1
        raise EndpointConnectionError(endpoint_url="x")

    with pytest.raises(EndpointUnavailable):
        aws.call("Op", always_down)
    assert calls == aws.MAX_ATTEMPTS
    assert len(sleeps) == aws.MAX_ATTEMPTS - 1


def test_call_does_not_retry_permanent_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws.time, "sleep", lambda _: pytest.fail("must not sleep"))

    def invalid() -> None:
        raise client_error("UnknownResourceFault")

    with pytest.raises(UnknownResource):
        aws.call("Op", invalid)


def test_backoff_grows_is_capped_and_never_zero() -> None:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert delays[0] <= 1.0
    assert min(delays[5:]) >= 4.0  # capped ceiling 8, half-jitter floor 4
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_a_missing_aws_profile_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from cpe.config import AwsSettings
    from cpe.errors import ConfigError

    monkeypatch.setenv("AWS_PROFILE", "no-such-profile-here")
    with pytest.raises(ConfigError, match="no-such-profile-here"):
        aws.swf_client(AwsSettings(region="us-east-1", endpoint_url=None))
