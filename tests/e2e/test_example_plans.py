"""Every example plan, run through the real stack under supervisord, does its real work."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tarfile
from collections import Counter, defaultdict
from pathlib import Path

from tests.e2e.harness import (
    SupervisedStack,
    assert_no_duplicate_steps,
    scheduled_activity_ids,
)

JOB_TIMEOUT = 60


def expected_totals(path: Path) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            totals[row["region"]] += float(row["amount"])
    return {region: round(total, 6) for region, total in totals.items()}


def test_csv_report_validates_summarizes_and_archives(stack: SupervisedStack) -> None:
    job = stack.submit("plans/csv-report.yaml", "examples/jobs/csv-report.json")
    final = stack.events.wait_final(job, JOB_TIMEOUT)

    assert final["type"] == "WORKFLOW_COMPLETED", final
    archive = Path(final["data"]["result"]["ArchiveFilesStep"]["archive"]["archive"])
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["sales.csv", "summary.json"]
    summary = json.loads((archive.parent / "summary.json").read_text())
    assert summary["totals"] == expected_totals(stack.root / "examples/data/sales.csv")
    assert summary["client"] == "demo"  # the client block reached the activity, as in CPE
    types = stack.events.types(job)
    # Events come from several processes over a standard SQS queue: no order across senders.
    assert types.count("WORKFLOW_SCHEDULED") >= 1, types
    for expected in ("ACTIVITY_SCHEDULED", "ACTIVITY_STARTED", "ACTIVITY_COMPLETED"):
        assert types.count(expected) >= 3, types
    assert assert_no_duplicate_steps(stack, job) == [
        "ValidateCsvStep",
        "SummarizeCsvStep",
        "ArchiveFilesStep",
    ]


def test_csv_report_on_a_broken_file_fails_with_the_step_and_reason(
    stack: SupervisedStack,
) -> None:
    job = stack.submit("plans/csv-report.yaml", "examples/jobs/csv-report-broken.json")
    final = stack.events.wait_final(job, JOB_TIMEOUT)

    assert final["type"] == "WORKFLOW_FAILED", final
    assert "ValidateCsvStep" in final["data"]["reason"]
    assert "INVALID_CSV" in final["data"]["reason"]
    assert "line 3" in final["data"]["details"]
    assert scheduled_activity_ids(stack.history(job)) == ["ValidateCsvStep"]


def test_verified_copy_retries_a_busy_source_then_publishes(stack: SupervisedStack) -> None:
    job = stack.submit("plans/verified-copy.yaml", "examples/jobs/verified-copy.json")
    final = stack.events.wait_final(job, JOB_TIMEOUT)

    assert final["type"] == "WORKFLOW_COMPLETED", final
    published = Path(final["data"]["result"]["PublishStep"]["path"])
    source = stack.root / "examples/data/sales.csv"
    assert hashlib.sha256(published.read_bytes()).hexdigest() == (
        hashlib.sha256(source.read_bytes()).hexdigest()
    )
    ids = assert_no_duplicate_steps(stack, job)
    assert ids[:2] == ["StageStep", "StageStep#2"], ids  # busy once, retried once
    assert "QuarantineStep" not in ids


def test_verified_copy_quarantines_on_checksum_mismatch(stack: SupervisedStack) -> None:
    job = stack.submit("plans/verified-copy.yaml", "examples/jobs/verified-copy-mismatch.json")
    final = stack.events.wait_final(job, JOB_TIMEOUT)

    # The failure is handled by the quarantine branch, so the job completes.
    assert final["type"] == "WORKFLOW_COMPLETED", final
    assert Path(final["data"]["result"]["QuarantineStep"]["path"]).is_file()
    ids = assert_no_duplicate_steps(stack, job)
    assert ids == ["StageStep", "VerifyStep", "QuarantineStep"]  # never retried, never published
    failed = [e for e in stack.events.of(job) if e["type"] == "ACTIVITY_FAILED"]
    assert failed[0]["data"]["activity"]["result"]["reason"] == "CHECKSUM_MISMATCH"


def test_verified_copy_fails_when_the_source_stays_busy(stack: SupervisedStack) -> None:
    job = stack.submit(
        "plans/verified-copy.yaml", "examples/jobs/verified-copy.json", busy_attempts=10
    )
    final = stack.events.wait_final(job, JOB_TIMEOUT)

    assert final["type"] == "WORKFLOW_FAILED", final
    assert "StageStep" in final["data"]["reason"] and "SOURCE_BUSY" in final["data"]["reason"]
    ids = assert_no_duplicate_steps(stack, job)
    assert ids == ["StageStep", "StageStep#2", "StageStep#3", "StageStep#4"]


def test_word_count_fans_out_per_file_and_returns_the_plan_output(stack: SupervisedStack) -> None:
    job = stack.submit("plans/word-count.yaml", "examples/jobs/word-count.json")
    final = stack.events.wait_final(job, JOB_TIMEOUT)

    assert final["type"] == "WORKFLOW_COMPLETED", final
    texts = sorted((stack.root / "examples/data/texts").glob("*.txt"))
    words = Counter(w for t in texts for w in re.findall(r"[a-z']+", t.read_text().lower()))
    result = final["data"]["result"]
    assert result["files"] == len(texts)
    assert result["words"] == sum(words.values())
    assert result["distinct"] == len(words)
    assert result["top"][0] == [words.most_common(1)[0][0], words.most_common(1)[0][1]]
    ids = assert_no_duplicate_steps(stack, job)
    fan_out = sorted(i for i in ids if i.startswith("CountWordsStep["))
    assert fan_out == [f"CountWordsStep[{i}]" for i in range(len(texts))]


def test_a_hundred_jobs_at_once_all_complete_each_step_once(stack: SupervisedStack) -> None:
    jobs = [
        stack.submit("plans/csv-report.yaml", "examples/jobs/csv-report.json") for _ in range(100)
    ]
    finals = stack.events.wait_all_final(jobs, timeout=180)

    assert {final["type"] for final in finals.values()} == {"WORKFLOW_COMPLETED"}
    for job in jobs:
        assert_no_duplicate_steps(stack, job)
        assert sorted(entry["activity"] for entry in stack.ledger(job)) == [
            "ArchiveFiles",
            "SummarizeCsv",
            "ValidateCsv",
        ]
