"""Activities of plans/csv-report.yaml: validate a CSV file, summarise it, archive both.

The plan is written in the original CPE style: the validate step's whole result becomes its
``metadata`` output (``outputs_spec: {metadata: "$"}``) and feeds the summarise step.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from cpe import ActivityFailed
from cpe.activities import Context
from examples.workspace import existing_file, job_dir, paced, record


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ActivityFailed("INVALID_CSV", f"{path} is not UTF-8 text: {error}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ActivityFailed("INVALID_CSV", f"{path} is empty")
    return rows[0], rows[1:]


def validate(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Check the file is a well-formed CSV with the required columns; describe it."""
    path = existing_file(input["path"])
    header, rows = _read_rows(path)
    missing = [c for c in input.get("required_columns", []) if c not in header]
    if missing:
        raise ActivityFailed("INVALID_CSV", f"{path}: missing columns {missing}")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ActivityFailed(
                "INVALID_CSV", f"{path} line {number}: {len(row)} fields, header has {len(header)}"
            )
    record(ctx, "ValidateCsv", path=str(path))
    return {
        "path": str(path),
        "columns": header,
        "rows": len(rows),
        "bytes": path.stat().st_size,
        "sha256": sha256_of(path),
    }


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric_stats(header: list[str], rows: list[list[str]]) -> dict[str, dict[str, float]]:
    stats: dict[str, dict[str, float]] = {}
    for index, column in enumerate(header):
        values = [_number(row[index]) for row in rows]
        if rows and all(v is not None for v in values):
            numbers = [v for v in values if v is not None]
            stats[column] = {
                "min": min(numbers),
                "max": max(numbers),
                "sum": round(sum(numbers), 6),
                "mean": round(sum(numbers) / len(numbers), 6),
            }
    return stats


def summarize(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Totals of ``sum`` per value of ``group_by``, plus stats of every numeric column."""
    meta = input["meta"]
    path = existing_file(meta["path"])
    header, rows = _read_rows(path)
    if meta["sha256"] != sha256_of(path):
        raise ActivityFailed("FILE_CHANGED", f"{path} changed since it was validated")
    group_by, measure = input["group_by"], input["sum"]
    for column in (group_by, measure):
        if column not in header:
            raise ActivityFailed("UNKNOWN_COLUMN", f"{column!r} is not a column of {path}")
    key, value = header.index(group_by), header.index(measure)
    totals: dict[str, float] = defaultdict(float)
    for row in paced(rows, ctx, float(input.get("pace_seconds", 0))):
        totals[row[key]] += _number(row[value]) or 0.0
    summary = {
        "source": str(path),
        "client": input["client"]["name"],
        "group_by": group_by,
        "totals": {k: round(v, 6) for k, v in sorted(totals.items())},
        "numeric": _numeric_stats(header, rows),
    }
    report = job_dir(ctx) / "summary.json"
    report.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    record(ctx, "SummarizeCsv", report=str(report))
    return {"report": str(report), "totals": summary["totals"]}


def archive(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Pack the source file and its report into one .tar.gz next to the report."""
    files = [existing_file(p) for p in input["files"]]
    target = job_dir(ctx) / input.get("name", "archive.tar.gz")
    ctx.finishing()
    with tarfile.open(target, "w:gz") as tar:
        for path in files:
            tar.add(path, arcname=path.name)
    record(ctx, "ArchiveFiles", archive=str(target))
    return {"archive": str(target), "bytes": target.stat().st_size, "sha256": sha256_of(target)}
