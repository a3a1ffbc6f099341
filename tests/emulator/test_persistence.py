"""The state file and the closed-run archive, on an in-process backend (pure file logic; the
SIGKILL-and-restart behaviour of the real server is in test_process.py), and the server's
start-up on a state file it cannot read."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sqs.models import Message

from emulator import closed_runs, persistence
from emulator.closed_runs import ClosedRunArchive
from emulator.persistence import MessageCache, Snapshotter, load_state
from emulator.swf_backend import EmuSWFBackend
from emulator.swf_model import EmuRun
from tests.support.emulator import REPO_ROOT

DOMAIN = "persist"


def backend() -> EmuSWFBackend:
    swf = EmuSWFBackend("us-east-1", DEFAULT_ACCOUNT_ID)
    swf.register_domain(DOMAIN, 1)
    swf.register_type(
        "workflow",
        DOMAIN,
        "Flow",
        "1",
        task_list="decisions",
        default_execution_start_to_close_timeout="3600",
        default_task_start_to_close_timeout="60",
        default_child_policy="TERMINATE",
    )
    return swf


def start(swf: EmuSWFBackend, workflow_id: str) -> EmuRun:
    with swf.lock:
        return swf.start_workflow_execution(DOMAIN, workflow_id, "Flow", "1", task_list="decisions")


def close(swf: EmuSWFBackend, run: EmuRun) -> None:
    with swf.lock:
        swf.close_run(run, "COMPLETED", "WorkflowExecutionCompleted", result=run.workflow_id)
        swf.version += 1


def reload(state_file: Path) -> EmuSWFBackend:
    return restart(state_file).swf


def restart(state_file: Path) -> Snapshotter:
    """What the emulator does on start: load the state file, go on saving to it."""
    archive = ClosedRunArchive(state_file)
    loaded = load_state(state_file, archive)
    assert loaded is not None
    return Snapshotter(state_file, loaded, archive)


def runs_by_status(swf: EmuSWFBackend) -> dict[str, set[str]]:
    domain = swf._get_domain(DOMAIN)
    return {
        "open": set(domain.open_runs),
        "closed": {run.workflow_id for run in domain.closed_runs.values()},
        "indexed": {run.workflow_id for run in domain.runs.values()},
    }


def test_closed_runs_are_archived_once_and_not_in_the_snapshot(tmp_path: Path) -> None:
    """A snapshot holds open runs only, so its size does not follow the closed runs kept; the
    closed ones come back from the archive with their histories."""
    state_file = tmp_path / "state"
    swf = backend()
    snapshotter = Snapshotter(state_file, swf, ClosedRunArchive(state_file))
    for index in range(50):
        close(swf, start(swf, f"done-{index}"))
    start(swf, "still-open")
    snapshotter.save()
    small = state_file.stat().st_size
    archive_file = tmp_path / "state.closed.0"
    archived = archive_file.stat().st_size
    for index in range(50, 250):
        close(swf, start(swf, f"done-{index}"))
    snapshotter.save()

    # 200 more closed runs: the archive took them (once each), the snapshot only their ids in
    # the bounded deadline heap.
    grown = archive_file.stat().st_size - archived
    assert grown > 3 * archived
    assert state_file.stat().st_size - small < grown / 10
    assert b"WorkflowExecutionCompleted" not in state_file.read_bytes()
    loaded = reload(state_file)
    assert runs_by_status(loaded) == {
        "open": {"still-open"},
        "closed": {f"done-{i}" for i in range(250)},
        "indexed": {"still-open"} | {f"done-{i}" for i in range(250)},
    }
    run = next(r for r in loaded._get_domain(DOMAIN).closed_runs.values())
    assert run.history[-1]["eventType"] == "WorkflowExecutionCompleted"
    assert run.domain is loaded._get_domain(DOMAIN)  # a reference, not a copy


def test_archive_bytes_past_the_snapshot_are_ignored(tmp_path: Path) -> None:
    """A crash after the archive append and before the snapshot: the snapshot still holds the
    run open, so the appended record is dropped and the run stays open, not duplicated."""
    state_file = tmp_path / "state"
    swf = backend()
    archive = ClosedRunArchive(state_file)
    snapshotter = Snapshotter(state_file, swf, archive)
    late = start(swf, "late")
    snapshotter.save()
    close(swf, late)
    archive.append([(late, closed_runs.encode_run(late))], sync=False)  # then the crash

    again = restart(state_file)
    assert runs_by_status(again.swf) == {"open": {"late"}, "closed": set(), "indexed": {"late"}}
    # The next save overwrites the stray bytes rather than keeping both versions.
    close(again.swf, again.swf._get_domain(DOMAIN).open_runs["late"])
    again.save()
    assert runs_by_status(reload(state_file))["closed"] == {"late"}


def test_pruned_runs_are_compacted_away(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once pruned runs outweigh the kept ones, the archive is rewritten to a new generation and
    the old file removed after the snapshot that names the new one."""
    monkeypatch.setattr(closed_runs, "_COMPACT_MIN_DEAD_BYTES", 0)
    monkeypatch.setattr(persistence, "COMPACTION_CHECK_INTERVAL", 0.0)
    state_file = tmp_path / "state"
    swf = backend()
    snapshotter = Snapshotter(state_file, swf, ClosedRunArchive(state_file))
    for index in range(30):
        close(swf, start(swf, f"old-{index}"))
    snapshotter.save()
    swf.retention = 0.0
    with swf.lock:
        swf.prune(time.time() + 1)
    swf.retention = 3600.0
    close(swf, start(swf, "new"))
    snapshotter.save()

    assert [p.name for p in sorted(tmp_path.glob("state.closed.*"))] == ["state.closed.1"]
    assert runs_by_status(reload(state_file)) == {
        "open": set(),
        "closed": {"new"},
        "indexed": {"new"},
    }


@pytest.mark.parametrize("content", [b"", b"not a pickle", b"\x80\x05K\x01."])
def test_an_unreadable_state_file_is_one_clear_start_up_error(
    tmp_path: Path, content: bytes
) -> None:
    """A truncated, foreign or old-format state file stops the emulator with exit 2 and a line
    that names the file and the way out, not a traceback."""
    state_file = tmp_path / "state"
    state_file.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", "--state-file", str(state_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2, result.stderr
    assert f"cannot load the state file {state_file}" in result.stderr
    assert "aside" in result.stderr and "Traceback" not in result.stderr


def test_cached_messages_are_saved_as_they_are_now(tmp_path: Path) -> None:
    """A message pickled in one snapshot and received before the next is saved again with its
    new receive count and receipt; one deleted in between is gone from the next snapshot."""
    cache = MessageCache()
    kept, gone = Message("id-kept", "kept", 0), Message("id-gone", "gone", 0)

    def snapshot(messages: list[Message]) -> list[Message]:
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer)
        pickler.dispatch_table = cache.dispatch_table()
        pickler.dump(messages)
        cache.snapshot_done()
        loaded: list[Message] = pickle.loads(buffer.getvalue())
        return loaded

    assert [m.body for m in snapshot([kept, gone])] == ["kept", "gone"]
    kept.mark_received()
    (saved,) = snapshot([kept])
    assert saved.approximate_receive_count == 1
    assert saved.receipt_handle == kept.receipt_handle
    assert len(cache._saved) == 1  # the deleted message's bytes were let go
