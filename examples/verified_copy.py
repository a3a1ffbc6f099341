"""Activities of plans/verified-copy.yaml: stage a file, verify its checksum, publish or quarantine.

``StageFile`` fails with ``SOURCE_BUSY`` on its first ``busy_attempts`` attempts, the way a
file still being written by someone else would; the plan retries exactly that reason.
``VerifyChecksum`` fails with ``CHECKSUM_MISMATCH``, which the plan does not retry: its failure
branch quarantines the file instead.
"""

from __future__ import annotations

import shutil
from typing import Any

from cpe import ActivityFailed
from cpe.activities import Context
from examples.csv_report import sha256_of
from examples.workspace import attempt, existing_file, job_dir, record

DESTINATIONS = ("published", "quarantine")


def stage(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
    source = existing_file(input["source"])
    this_attempt = attempt(ctx)
    record(ctx, "StageFile", attempt=this_attempt)
    if this_attempt <= int(input.get("busy_attempts", 0)):
        raise ActivityFailed("SOURCE_BUSY", f"{source} is busy (attempt {this_attempt})")
    staging = job_dir(ctx) / "staging"
    staging.mkdir(exist_ok=True)
    target = staging / source.name
    shutil.copyfile(source, target)
    return {"staged": str(target), "bytes": target.stat().st_size}


def verify(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
    path = existing_file(input["path"])
    actual = sha256_of(path)
    record(ctx, "VerifyChecksum", sha256=actual)
    if actual != input["expected_sha256"]:
        raise ActivityFailed(
            "CHECKSUM_MISMATCH", f"{path.name}: expected {input['expected_sha256']}, got {actual}"
        )
    return {"sha256": actual}


def move(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
    destination = input["destination"]
    if destination not in DESTINATIONS:
        raise ActivityFailed("INVALID_DESTINATION", f"{destination!r} not in {DESTINATIONS}")
    path = existing_file(input["path"])
    folder = job_dir(ctx) / destination
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    shutil.move(path, target)
    record(ctx, "MoveFile", destination=destination)
    return {"path": str(target), "destination": destination}
