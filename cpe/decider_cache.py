"""The decider's per-run cache: folded state plus what notifications need, bounded (LRU).

Everything cached is a pure function of the run's history up to some event id, so losing it
(a restart, an eviction, a gap in an incremental slice) costs a full history read and nothing
else: the decider keeps no state that could not be replayed from SWF.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cpe import state as history

ActivityType = tuple[str, str]


@dataclass
class CachedRun:
    """One run as folded so far: the plan engine's state and the activities scheduled in it."""

    state: history.ExecutionState
    last_event_id: int
    # scheduledEventId -> (activityId, activity type): a timeout event names only the former.
    scheduled: dict[int, tuple[str, ActivityType]] = field(default_factory=dict)

    def absorb(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            if event["eventType"] == "ActivityTaskScheduled":
                attrs = event["activityTaskScheduledEventAttributes"]
                kind = attrs["activityType"]
                self.scheduled[event["eventId"]] = (
                    attrs["activityId"],
                    (kind["name"], kind["version"]),
                )
            self.last_event_id = max(self.last_event_id, int(event["eventId"]))


class RunCache:
    """At most ``capacity`` runs, least recently used evicted first."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = max(capacity, 1)
        self._runs: OrderedDict[str, CachedRun] = OrderedDict()

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: str) -> CachedRun | None:
        run = self._runs.get(run_id)
        if run is not None:
            self._runs.move_to_end(run_id)
        return run

    def put(self, run_id: str, run: CachedRun) -> None:
        self._runs[run_id] = run
        self._runs.move_to_end(run_id)
        while len(self._runs) > self.capacity:
            self._runs.popitem(last=False)

    def evict(self, run_id: str) -> None:
        self._runs.pop(run_id, None)


def fresh_events(events: Sequence[dict[str, Any]], after: int) -> list[dict[str, Any]]:
    """The events of a slice that come after event ``after`` (slices may overlap the cache)."""
    return [event for event in events if int(event["eventId"]) > after]


def has_gap(prior: CachedRun | None, events: Sequence[dict[str, Any]]) -> bool:
    """Whether ``events`` cannot simply be folded onto ``prior`` (missing events in between)."""
    if prior is None:
        return not events or int(events[0]["eventId"]) != 1
    new = fresh_events(events, prior.last_event_id)
    return bool(new) and int(new[0]["eventId"]) > prior.last_event_id + 1


def advance(
    prior: CachedRun | None,
    events: Sequence[dict[str, Any]],
    full_history: Callable[[], list[dict[str, Any]]],
) -> tuple[CachedRun, bool]:
    """Fold a decision task's slice onto the cached run; returns (run, read the full history).

    A first decision task carries the history from event 1 and needs no extra read; a cache
    miss later in the run, or a slice that does not join the cached events, does.
    """
    refolded = has_gap(prior, events)
    if refolded:
        events, prior = full_history(), None
    if prior is None:
        run = CachedRun(state=history.fold(list(events), None), last_event_id=0)
        run.absorb(events)
        return run, refolded
    new = fresh_events(events, prior.last_event_id)
    if new:
        prior.state = history.fold(new, prior.state)
        prior.absorb(new)
    return prior, False
