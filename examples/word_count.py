"""Activities of plans/word-count.yaml: list text files, count words in each (fan-out), merge."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from cpe import ActivityFailed
from cpe.activities import Context
from examples.workspace import existing_file, paced, record, resolve

WORD = re.compile(r"[a-z']+")
TOP = 10


def list_files(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
    directory = resolve(input["directory"])
    if not directory.is_dir():
        raise ActivityFailed("NOT_A_DIRECTORY", f"no such directory: {directory}")
    files = sorted(str(p) for p in directory.glob(input.get("pattern", "*.txt")) if p.is_file())
    if not files:
        raise ActivityFailed("NO_FILES", f"nothing matches {input.get('pattern')} in {directory}")
    record(ctx, "ListFiles", files=len(files))
    return {"files": files}


def count_words(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
    path = existing_file(input["path"])
    lines = path.read_text(encoding="utf-8").lower().splitlines()
    counts: Counter[str] = Counter()
    for line in paced(lines, ctx, float(input.get("pace_seconds", 0))):
        counts.update(WORD.findall(line))
    record(ctx, "CountWords", path=path.name)
    return {"file": path.name, "words": sum(counts.values()), "counts": dict(counts)}


def merge_counts(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
    total: Counter[str] = Counter()
    for counts in input["counts"]:
        total.update(counts)
    record(ctx, "MergeCounts", parts=len(input["counts"]))
    top = [[word, count] for word, count in total.most_common(int(input.get("top", TOP)))]
    return {"words": sum(total.values()), "distinct": len(total), "top": top}
