"""Logging for the daemons: one line per event on stderr, with the ids that matter.

Call sites pass ids as keyword fields (``log.info("scheduled", jobId=..., activityId=...)``);
they are rendered as ``key=value`` after the message so a line can be grepped by any id.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s"


def add_level_argument(parser: argparse.ArgumentParser) -> None:
    """Every daemon's ``--log-level``, read by :func:`setup`."""
    parser.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING... (default: $CPE_LOG_LEVEL or INFO)"
    )


def setup(level: str | None = None) -> None:
    """Configure the root logger once, for a daemon's main(): ``level`` (``--log-level``), else
    ``$CPE_LOG_LEVEL``, else INFO."""
    chosen = (level or os.environ.get("CPE_LOG_LEVEL") or "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(chosen)
    # botocore's own retry chatter would drown the one-line-per-event log.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def _render(message: str, fields: dict[str, Any]) -> str:
    if not fields:
        return message
    parts = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    return f"{message} {parts}"


class EventLogger:
    """A thin wrapper so every call can attach ids as fields."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def debug(self, message: str, **fields: Any) -> None:
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug(_render(message, fields))

    def info(self, message: str, **fields: Any) -> None:
        self._logger.info(_render(message, fields))

    def warning(self, message: str, **fields: Any) -> None:
        self._logger.warning(_render(message, fields))

    def error(self, message: str, **fields: Any) -> None:
        self._logger.error(_render(message, fields))

    def exception(self, message: str, **fields: Any) -> None:
        self._logger.exception(_render(message, fields))


def get(name: str) -> EventLogger:
    return EventLogger(name)
