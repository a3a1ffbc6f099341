"""Stop moto's instance tracking, which keeps every model object ever created.

moto's ``BaseModel`` metaclass gives each model class an ``instances_tracked`` list and appends
every new instance to it (for its internal model browser), so nothing is ever freed: every run,
and every SQS message ever sent, would stay in memory. We replace the list for the classes the
emulator creates in bulk.
"""

from __future__ import annotations

from typing import Any


class NoTracking(list[Any]):
    def append(self, item: Any) -> None:
        pass


def stop_tracking(*classes: type) -> None:
    for cls in classes:
        cls.instances_tracked = NoTracking()  # type: ignore[attr-defined]  # set by moto's metaclass
