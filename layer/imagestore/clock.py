"""The one clock every rule reads; the local stack can move it forward."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from imagestore.config import clock_offset_seconds


def now_epoch() -> float:
    """Seconds since the epoch, plus the local stack's offset."""
    return time.time() + clock_offset_seconds()


def now() -> datetime:
    """The current time (UTC, aware)."""
    return datetime.fromtimestamp(now_epoch(), tz=UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with a Z suffix and second precision."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_epoch(seconds: float) -> datetime:
    """An aware UTC datetime from epoch seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)
