"""Persistence: atomic pickled snapshots of the SWF and SQS backends.

A snapshot is taken under both locks (a consistent cut) and written outside them, to a temp file
renamed over the state file, so a crash mid-write leaves the previous snapshot intact. Deadlines
are wall-clock times, so in-flight tasks keep their timeouts across a restart, and task tokens
are part of the state, so tokens issued before a restart stay valid after it.

Commit before answer: the server calls ``Snapshotter.wait_durable`` before it sends a response,
so no client ever sees a state (a started run, a sent message, a task token) that a SIGKILL
could take back. Requests that arrive while a snapshot is being written share the next one
(group commit), so a burst costs a few snapshots, not one per call.

A snapshot holds the open state only; each closed run is written once to the closed-run
archive (emulator/closed_runs.py), so a snapshot's cost follows the open runs and queued
messages, not the thousands of closed runs that retention keeps.
"""

from __future__ import annotations

import contextlib
import copyreg
import gc
import io
import logging
import os
import pickle
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.sqs.models import Message

from emulator import sqs_backend
from emulator.closed_runs import ArchiveMark, ClosedRunArchive, encode_run
from emulator.swf_backend import EmuDomain, EmuSWFBackend
from emulator.swf_model import EmuRun

log = logging.getLogger(__name__)

FORMAT = 2  # 2: closed runs live in the archive, not in the snapshot
COMPACTION_CHECK_INTERVAL = 30.0  # seconds between looks for pruned runs in the archive
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def _fresh(factory: Any) -> Any:
    return lambda obj: (factory, ())


# Locks and conditions (inside moto's queues) are recreated fresh, not saved. A dispatch table
# (looked up in C by exact type) rather than reducer_override (a Python call per object) keeps
# a snapshot of thousands of runs fast.
_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[threading.Condition] = _fresh(threading.Condition)
for _lock_type in _LOCK_TYPES:
    _DISPATCH[_lock_type] = _fresh(threading.RLock)


def _reduce_domain(domain: EmuDomain) -> Any:
    """A domain without its closed runs: those are in the archive."""
    state = domain.__dict__.copy()
    state["runs"] = {run.run_id: run for run in domain.open_runs.values()}
    state["closed_runs"] = type(domain.closed_runs)()
    return copyreg.__newobj__, (EmuDomain,), state  # type: ignore[attr-defined]


def _reduce_run(run: EmuRun) -> Any:
    if not run.open:  # a queue or token still pointing at it would copy it into the snapshot
        raise pickle.PicklingError(f"closed run {run.run_id} reached the snapshot")
    return run.__reduce_ex__(pickle.HIGHEST_PROTOCOL)


_DISPATCH[EmuDomain] = _reduce_domain
_DISPATCH[EmuRun] = _reduce_run


class MessageCache:
    """Each SQS message pickled once, and again only after it changed (a receive, a visibility
    change), so a queue's backlog costs a commit a copy of bytes, not a deep pickle of every
    message: with 5,000 waiting messages that is most of a commit's time."""

    def __init__(self) -> None:
        self._saved: dict[int, tuple[tuple[Any, ...], bytes]] = {}
        self._used: dict[int, tuple[tuple[Any, ...], bytes]] = {}

    def dispatch_table(self) -> dict[type, Any]:
        return {**_DISPATCH, Message: self._reduce}

    def _reduce(self, message: Message) -> Any:
        # Body and attributes never change after a send; these fields are what a receive, a
        # visibility change or a delay moves.
        signature = (
            message.id,
            message.receipt_handle,
            message.approximate_receive_count,
            message.approximate_first_receive_timestamp,
            message.visible_at,
            message.delayed_until,
        )
        saved = self._saved.get(id(message))
        if saved is None or saved[0] != signature:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            saved = (signature, data)
        self._used[id(message)] = saved
        return pickle.loads, (saved[1],)

    def snapshot_done(self) -> None:
        """Keep only the messages this snapshot saw (the others were deleted)."""
        self._saved, self._used = self._used, {}


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pickling or unpickling a large graph triggers repeated full collections; pause them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


Version = tuple[int, int]  # (SWF version, SQS version): both only grow


def state_version(swf: EmuSWFBackend) -> Version:
    return swf.version, sqs_backend.SQS_VERSION[0]


def covers(saved: Version, wanted: Version) -> bool:
    return saved[0] >= wanted[0] and saved[1] >= wanted[1]


@dataclass
class Snapshot:
    """A consistent cut: the open state's bytes and the closed runs that closed since the last."""

    version: Version
    data: bytes
    closed: list[tuple[EmuRun, bytes]]


def take_snapshot(
    swf: EmuSWFBackend, archive: ClosedRunArchive, messages: MessageCache | None = None
) -> Snapshot:
    """Everything under both locks; the writing happens outside them."""
    messages = messages or MessageCache()
    buffer = io.BytesIO()
    with swf.lock, sqs_backend.SQS_LOCK, _gc_paused():
        version = state_version(swf)
        swf.drop_closed_from_queues()
        closed = [(run, encode_run(run)) for run in archive.newly_closed(swf)]
        mark = ArchiveMark(archive.path.name, archive.length + sum(len(d) for _, d in closed))
        state = {
            "format": FORMAT,
            "swf": swf,
            "sqs": sqs_backend.all_backends(),
            "archive": mark,
        }
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = messages.dispatch_table()
        pickler.dump(state)
        messages.snapshot_done()
    return Snapshot(version, buffer.getvalue(), closed)


def write_atomic(path: Path, data: bytes, sync: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())
    os.replace(tmp, path)


class StateFileError(Exception):
    """The state file exists but cannot be loaded; the message says what to do."""


def load_state(path: Path, archive: ClosedRunArchive) -> EmuSWFBackend | None:
    """The saved SWF backend with its closed runs (SQS backends are restored into moto's
    registry), or None when there is no state file yet."""
    if not path.exists():
        return None
    try:
        with open(path, "rb") as handle, _gc_paused():
            state = pickle.load(handle)  # our own file, written by take_snapshot
            found = state.get("format") if isinstance(state, dict) else None
            if found != FORMAT:
                raise ValueError(f"state format {found!r}, this emulator reads {FORMAT}")
            swf: EmuSWFBackend = state["swf"]
            closed = archive.load_into(swf, state["archive"])
    except Exception as error:  # any unreadable file: one clear start-up error, not a traceback
        raise StateFileError(
            f"cannot load the state file {path}: {type(error).__name__}: {error}. Move it and "
            f"{path.name}.closed.* aside to start with an empty emulator."
        ) from error
    sqs_backend.restore_backends(state["sqs"])
    log.info("state loaded from %s (%d closed runs from the archive)", path, closed)
    return swf


class Snapshotter:
    """Writes the state file: at once when a response waits for it, else every ``interval``."""

    def __init__(self, path: Path, swf: EmuSWFBackend, archive: ClosedRunArchive) -> None:
        self.path = path
        self.swf = swf
        self.archive = archive
        self.messages = MessageCache()
        self._next_compaction = 0.0
        self.saved_version: Version = (-1, -1)
        self._changed = threading.Condition()
        self._wanted = False  # a response waits for the next snapshot
        self._attempts = 0  # snapshots tried, so a waiter can tell that one failed
        self._failed = False
        self._stopped = False
        self._writing = threading.Lock()  # the snapshot thread and the final save on TERM

    def save(self, final: bool = False) -> None:
        """Write a snapshot if the state moved. Only the ``final`` one (on TERM) is fsynced:
        what a killed emulator process wrote is in the page cache and survives it, and an
        fsync per commit would cost several times the snapshot itself."""
        with self._writing:
            if covers(self.saved_version, state_version(self.swf)) and not final:
                return
            self._compact_now_and_then()
            snapshot = take_snapshot(self.swf, self.archive, self.messages)
            self.archive.append(snapshot.closed, sync=final)  # before the snapshot counting them
            write_atomic(self.path, snapshot.data, sync=final)
            self.archive.snapshot_written()
            self.saved_version = snapshot.version
        log.debug("snapshot written: %s (%d bytes)", self.path, len(snapshot.data))

    def _compact_now_and_then(self) -> None:
        if time.monotonic() < self._next_compaction:
            return
        self._next_compaction = time.monotonic() + COMPACTION_CHECK_INTERVAL
        kept: set[str] = set()
        with self.swf.lock:
            for domain in self.swf.domains:
                assert isinstance(domain, EmuDomain)
                kept.update(domain.closed_runs)
        self.archive.compact_if_worth_it(kept)

    def wait_durable(self) -> None:
        """Return once everything a response could show is in the state file.

        If writing fails (a full disk), the answer goes out anyway after one failed try: the
        change is made in memory, and refusing it would only make clients retry it.
        """
        wanted = state_version(self.swf)
        with self._changed:
            attempts = self._attempts
            while not covers(self.saved_version, wanted) and not self._stopped:
                if self._attempts > attempts and self._failed:
                    return
                self._wanted = True
                self._changed.notify_all()
                self._changed.wait(1.0)

    def run(self, stop: threading.Event, interval: float) -> None:
        """Snapshot when a response waits; otherwise (timers firing) every ``interval`` s,
        keeping the lock held at most ~20 % of the time.

        After each snapshot the next waits at least as long as this one took: a snapshot holds
        both locks, so back-to-back commits would leave the server no time to answer anything
        else, and the pause lets the next commit carry more waiting answers (group commit).
        """
        pause = interval
        while not stop.is_set():
            with self._changed:
                self._changed.wait_for(lambda: self._wanted, timeout=pause)
                self._wanted = False
            started = time.monotonic()
            self._snapshot_once()
            took = time.monotonic() - started
            pause = max(interval, 4 * took)
            stop.wait(took)
        self.stop()

    def stop(self) -> None:
        """Release every waiting response (the final snapshot on TERM follows)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def _snapshot_once(self) -> None:
        try:
            self.save()
            failed = False
        except Exception:  # a full disk or a bug: answers must not wait on a dead thread
            log.exception("snapshot to %s failed", self.path)
            failed = True
        with self._changed:
            self._attempts += 1
            self._failed = failed
            self._changed.notify_all()
