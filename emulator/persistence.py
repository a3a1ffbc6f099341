"""Persistence: atomic pickled snapshots of the SWF and SQS backends.

A snapshot is taken under both locks (a consistent cut) and written outside them, to a temp file
renamed over the state file, so a crash mid-write leaves the previous snapshot intact. Deadlines
are wall-clock times, so in-flight tasks keep their timeouts across a restart, and task tokens
are part of the state, so tokens issued before a restart stay valid after it.
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
from pathlib import Path
from typing import Any

from emulator import sqs_backend
from emulator.swf_backend import EmuSWFBackend

log = logging.getLogger(__name__)

FORMAT = 1
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


def dump_state(swf: EmuSWFBackend) -> bytes:
    buffer = io.BytesIO()
    with swf.lock, sqs_backend.SQS_LOCK, _gc_paused():
        state = {"format": FORMAT, "swf": swf, "sqs": sqs_backend.all_backends()}
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = _DISPATCH
        pickler.dump(state)
    return buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_state(path: Path) -> EmuSWFBackend | None:
    """The saved SWF backend (SQS backends are restored into moto's registry), or None."""
    if not path.exists():
        return None
    with open(path, "rb") as handle, _gc_paused():
        state = pickle.load(handle)  # our own file, written by dump_state
    if state.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown state format {state.get('format')!r}")
    sqs_backend.restore_backends(state["sqs"])
    swf: EmuSWFBackend = state["swf"]
    return swf


class Snapshotter:
    """Writes the state file when SWF or SQS state moved since the last write."""

    def __init__(self, path: Path, swf: EmuSWFBackend) -> None:
        self.path = path
        self.swf = swf
        self.saved_version: tuple[int, int] = (-1, -1)

    def current_version(self) -> tuple[int, int]:
        return self.swf.version, sqs_backend.SQS_VERSION[0]

    def save(self, force: bool = False) -> None:
        version = self.current_version()
        if version == self.saved_version and not force:
            return
        data = dump_state(self.swf)
        write_atomic(self.path, data)
        self.saved_version = version
        log.debug("snapshot written: %s (%d bytes)", self.path, len(data))

    def run(self, stop: threading.Event, interval: float) -> None:
        """Snapshot every ``interval`` s, but keep the lock held at most ~20 % of the time."""
        pause = interval
        while not stop.wait(pause):
            started = time.monotonic()
            try:
                self.save()
            except OSError:
                log.exception("snapshot to %s failed", self.path)
            pause = max(interval, 4 * (time.monotonic() - started))
