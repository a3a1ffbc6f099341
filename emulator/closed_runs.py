"""The closed-run archive: closed runs are written once, beside the snapshot, not in every one.

A closed run never changes again (until retention prunes it), so re-pickling every closed run
in every snapshot would make each answer's commit cost grow with the runs kept — the very
collapse the emulator exists to avoid. Instead each closed run is appended once to an archive
file as a length-prefixed pickle, and the snapshot records which archive file and how many of
its bytes it is consistent with. Bytes past that length (a crash between the append and the
snapshot) are ignored on load, because the snapshot still holds those runs open.

Pruned runs leave dead records behind; once they outweigh the live ones the live records are
copied, as bytes, into a new archive generation that the next snapshot names, and the old file
is removed after that snapshot is in place.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.swf.models.generic_type import GenericType

from emulator.swf_backend import EmuDomain, EmuSWFBackend
from emulator.swf_model import EmuRun

_LENGTH = struct.Struct(">Q")
# Compact once dead records are over half the file and worth the copy.
_COMPACT_MIN_DEAD_BYTES = 4 * 2**20


@dataclass(frozen=True)
class ArchiveMark:
    """What a snapshot is consistent with: an archive file (by name) and its valid length."""

    name: str
    length: int


@dataclass(frozen=True)
class _Record:
    offset: int
    length: int  # including the length prefix


class _RunPickler(pickle.Pickler):
    """Pickles one closed run; its domain and workflow type are saved by name, not copied."""

    def __init__(self, buffer: io.BytesIO, run: EmuRun) -> None:
        super().__init__(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        self.run = run

    def persistent_id(self, obj: Any) -> Any:
        if obj is self.run.domain:
            return ("domain", obj.name)
        if obj is self.run.workflow_type:
            return ("workflow-type", self.run.domain.name, obj.name, obj.version)
        if isinstance(obj, EmuDomain | GenericType | EmuRun) and obj is not self.run:
            raise pickle.PicklingError(f"closed run {self.run.run_id} refers to {obj!r}")
        return None


class _RunUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, swf: EmuSWFBackend) -> None:
        super().__init__(io.BytesIO(data))
        self.swf = swf

    def persistent_load(self, pid: Any) -> Any:
        kind, domain_name, *key = pid
        domain = self.swf._get_domain(domain_name)
        if kind == "domain":
            return domain
        if kind == "workflow-type":
            return domain.get_type("workflow", *key)
        raise pickle.UnpicklingError(f"unknown reference {pid!r} in the closed-run archive")


def encode_run(run: EmuRun) -> bytes:
    """One archive record: the run pickled on its own, behind its length."""
    buffer = io.BytesIO()
    _RunPickler(buffer, run).dump(run)
    body = buffer.getvalue()
    return _LENGTH.pack(len(body)) + body


class ClosedRunArchive:
    """Appends closed runs to ``<state file>.closed.<generation>``; one writer at a time."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.generation = 0
        self.length = 0
        self.records: dict[str, _Record] = {}  # runId -> where it is in the current file
        self.dead_bytes = 0  # records of pruned runs, still in the current file
        self._stale: list[Path] = []  # older generations, removed once a snapshot moved on

    @property
    def path(self) -> Path:
        return self.state_file.with_name(f"{self.state_file.name}.closed.{self.generation}")

    # -- writing (called by the snapshotter) ---------------------------------------------
    def newly_closed(self, swf: EmuSWFBackend) -> list[EmuRun]:
        """Closed runs not archived yet, in close order (call under the backend's lock)."""
        fresh: list[EmuRun] = []
        for domain in swf.domains:
            assert isinstance(domain, EmuDomain)
            batch = []
            for run_id in reversed(domain.closed_runs):
                if run_id in self.records:
                    break
                batch.append(domain.closed_runs[run_id])
            fresh += reversed(batch)
        return fresh

    def append(self, encoded: list[tuple[EmuRun, bytes]], sync: bool) -> None:
        """Append encoded runs (before the snapshot that counts them); ``sync``: fsync too."""
        if not encoded:
            return
        with open(self.path, "ab") as handle:
            handle.truncate(self.length)  # drop bytes a crashed append left past the mark
            handle.seek(self.length)
            for run, data in encoded:
                handle.write(data)
                self.records[run.run_id] = _Record(self.length, len(data))
                self.length += len(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())

    def compact_if_worth_it(self, live_ids: set[str]) -> None:
        """Start a new generation holding only ``live_ids``, the runs retention still keeps."""
        for run_id in [run_id for run_id in self.records if run_id not in live_ids]:
            self.dead_bytes += self.records.pop(run_id).length
        if self.dead_bytes <= _COMPACT_MIN_DEAD_BYTES or 2 * self.dead_bytes < self.length:
            return
        old_path = self.path
        live = list(self.records.items())
        self.generation += 1
        self.records, self.length, self.dead_bytes = {}, 0, 0
        with open(old_path, "rb") as source, open(self.path, "wb") as target:
            for run_id, record in live:
                source.seek(record.offset)
                target.write(source.read(record.length))
                self.records[run_id] = _Record(self.length, record.length)
                self.length += record.length
            target.flush()
            os.fsync(target.fileno())
        self._stale.append(old_path)

    def snapshot_written(self) -> None:
        """The snapshot now names the current generation: older files can go."""
        for path in self._stale:
            path.unlink(missing_ok=True)
        self._stale.clear()

    # -- loading -------------------------------------------------------------------------
    def load_into(self, swf: EmuSWFBackend, mark: ArchiveMark) -> int:
        """Put the runs the snapshot's mark covers back into their domains; returns the count."""
        self.generation = int(mark.name.rsplit(".", 1)[1])
        self.length = mark.length
        for path in self.state_file.parent.glob(f"{self.state_file.name}.closed.*"):
            if path != self.path:
                self._stale.append(path)
        if mark.length == 0:
            return 0
        with open(self.path, "rb") as handle:
            data = handle.read(mark.length)
        for offset, body in _records(data):
            run: EmuRun = _RunUnpickler(body, swf).load()
            domain = swf._get_domain(run.domain.name)
            domain.runs[run.run_id] = run
            domain.closed_runs[run.run_id] = run
            self.records[run.run_id] = _Record(offset, _LENGTH.size + len(body))
        return len(self.records)


def _records(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset < len(data):
        (size,) = _LENGTH.unpack_from(data, offset)
        start = offset + _LENGTH.size
        yield offset, data[start : start + size]
        offset = start + size
