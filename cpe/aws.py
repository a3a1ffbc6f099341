"""The only place boto3 clients are built: region, endpoint, credentials, timeouts.

Long polls decide the socket timeouts: SWF holds a poll open for up to 60 s and SQS for up to
20 s, so the read timeout sits above each. Retries are ours (see ``cpe.retry``), not
botocore's, so that one mechanism with one budget and one log line governs them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProfileNotFound,
    ReadTimeoutError,
)

from cpe import log
from cpe.backoff import Backoff
from cpe.config import AwsSettings
from cpe.errors import (
    AlreadyExists,
    AWSError,
    ConfigError,
    CPEError,
    EndpointUnavailable,
    InvalidRequest,
    Throttled,
    UnknownResource,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_swf import SWFClient

T = TypeVar("T")
_log = log.get("cpe.aws")

SWF_READ_TIMEOUT = 70.0  # SWF long polls last up to 60 s
SQS_READ_TIMEOUT = 30.0  # SQS long polls last up to 20 s
CONNECT_TIMEOUT = 5.0

# The emulator accepts any non-empty keys; real AWS uses the standard credential chain.
_EMULATOR_KEY = "cpe-emulator"


def _session(aws: AwsSettings) -> boto3.Session:
    try:
        session = boto3.Session(region_name=aws.region)
    except ProfileNotFound as exc:
        raise ConfigError("AWS_PROFILE", "", f"{exc}; unset it or create the profile") from exc
    if aws.endpoint_url and session.get_credentials() is None:
        session = boto3.Session(
            region_name=aws.region,
            aws_access_key_id=_EMULATOR_KEY,
            aws_secret_access_key=_EMULATOR_KEY,
        )
    return session


def _config(read_timeout: float) -> Config:
    return Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": 1},
        max_pool_connections=20,
    )


def swf_client(aws: AwsSettings) -> SWFClient:
    return _session(aws).client(
        "swf", endpoint_url=aws.endpoint_url, config=_config(SWF_READ_TIMEOUT)
    )


def sqs_client(aws: AwsSettings) -> SQSClient:
    return _session(aws).client(
        "sqs", endpoint_url=aws.endpoint_url, config=_config(SQS_READ_TIMEOUT)
    )


# --- error translation and retries -----------------------------------------------------

_THROTTLING = {
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
}
_UNKNOWN = {
    "UnknownResourceFault",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ResourceNotFoundException",
}
_EXISTS = {
    "DomainAlreadyExistsFault",
    "TypeAlreadyExistsFault",
    "WorkflowExecutionAlreadyStartedFault",
    "QueueAlreadyExists",
    "QueueNameExists",
}
MAX_ATTEMPTS = 5


def translate(operation: str, exc: Exception) -> CPEError:
    """Map a botocore exception to the project's tree; anything unexpected stays an AWSError."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        kind: type[AWSError] = AWSError
        if code in _THROTTLING or status >= 500:
            kind = Throttled
        elif code in _UNKNOWN:
            kind = UnknownResource
        elif code in _EXISTS:
            kind = AlreadyExists
        elif status and 400 <= status < 500:
            kind = InvalidRequest
        return kind(operation, code, message)
    if isinstance(
        exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)
    ):
        return EndpointUnavailable(operation, type(exc).__name__, str(exc))
    if isinstance(exc, BotoCoreError):
        return AWSError(operation, type(exc).__name__, str(exc))
    return AWSError(operation, type(exc).__name__, str(exc))


def call(operation: str, function: Callable[..., T], /, **kwargs: Any) -> T:
    """Call one AWS operation; retry throttling and connection errors with bounded backoff.

    Every retried operation is safe to repeat: polls and reads trivially, and the writes either
    fail harmlessly on a second delivery (a used task token, an already started workflow) or
    are at-least-once by design (SQS sends).
    """
    backoff = Backoff(base=0.1, cap=5.0)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return function(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            error = translate(operation, exc)
            if not isinstance(error, (Throttled, EndpointUnavailable)) or attempt == MAX_ATTEMPTS:
                raise error from exc
            delay = backoff.next_delay()
            _log.warning(
                "retrying",
                operation=operation,
                error=error.code,
                attempt=attempt,
                delay=f"{delay:.2f}",
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
