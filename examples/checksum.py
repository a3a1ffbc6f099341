"""Example Python activity: checksum a file or a text, with progress.

Configure it in cpe.yaml::

    activities:
      - name: Checksum
        version: "1"
        handler: examples.checksum:run

Input: ``{"path": "/some/file"}`` or ``{"text": "..."}``, optional ``"algorithm"`` (sha256).
Result: ``{"algorithm": "sha256", "digest": "...", "size": 123}``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cpe import ActivityFailed
from cpe.activities import Context

CHUNK = 1024 * 1024


def run(input: Any, ctx: Context) -> dict[str, Any]:
    if not isinstance(input, dict) or not ({"path", "text"} & input.keys()):
        raise ActivityFailed("INVALID_INPUT", 'expected {"path": ...} or {"text": ...}')
    algorithm = input.get("algorithm", "sha256")
    if algorithm not in hashlib.algorithms_available:
        raise ActivityFailed("UNKNOWN_ALGORITHM", f"{algorithm!r} is not available")
    digest = hashlib.new(algorithm)
    if "text" in input:
        data = str(input["text"]).encode()
        digest.update(data)
        return {"algorithm": algorithm, "digest": digest.hexdigest(), "size": len(data)}
    return _file_digest(Path(input["path"]), digest, ctx)


def _file_digest(path: Path, digest: Any, ctx: Context) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        ctx.preparing()
        done = 0
        with path.open("rb") as file:
            while chunk := file.read(CHUNK):
                if ctx.cancelled:  # stop early; the worker reports the task canceled
                    raise ActivityFailed("CANCELED", f"stopped at {done} of {size} bytes")
                digest.update(chunk)
                done += len(chunk)
                ctx.progress(round(100 * done / size) if size else 100)
    except OSError as exc:
        raise ActivityFailed("CANNOT_READ", f"{path}: {exc.strerror or exc}") from exc
    ctx.finishing()
    return {"algorithm": digest.name, "digest": digest.hexdigest(), "size": size}
