"""The local stack's clock offset: IMAGESTORE_CLOCK_OFFSET_SECONDS, persisted in the data folder."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger("imagestore_local.clock")

ENV_NAME = "IMAGESTORE_CLOCK_OFFSET_SECONDS"


def offset_seconds() -> float:
    """The offset now in effect (what the layer's imagestore.clock adds to the wall clock)."""
    return float(os.environ.get(ENV_NAME) or 0)


def now_epoch() -> float:
    """The local stack's time: the wall clock plus the offset (as every handler sees it)."""
    return time.time() + offset_seconds()


class LocalClock:
    """A process-wide offset added to the wall clock by the layer's imagestore.clock."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "clock.json"
        self._lock = threading.Lock()

    def load(self) -> float:
        """Restore the persisted offset into os.environ (an offset already in the environment wins)."""
        if os.environ.get(ENV_NAME):
            offset = float(os.environ[ENV_NAME])
            log.info("clock offset %.0f s from the environment", offset)
        elif self.path.exists():
            offset = float(json.loads(self.path.read_text(encoding="utf-8")).get("offsetSeconds", 0))
            if offset:
                log.info("clock offset %.0f s restored from %s", offset, self.path)
        else:
            offset = 0.0
        self._apply(offset)
        return offset

    @property
    def offset(self) -> float:
        """The current offset in seconds."""
        return offset_seconds()

    def advance(self, seconds: float) -> float:
        """Move the clock forward (or back, with a negative number); returns the new offset."""
        with self._lock:
            return self._set(self.offset + seconds)

    def set(self, offset: float) -> float:
        """Set the offset outright; returns it."""
        with self._lock:
            return self._set(offset)

    def _set(self, offset: float) -> float:
        self._apply(offset)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"offsetSeconds": offset}), encoding="utf-8")
        log.info("clock offset now %.0f s", offset)
        return offset

    @staticmethod
    def _apply(offset: float) -> None:
        os.environ[ENV_NAME] = repr(float(offset)) if offset % 1 else str(int(offset))

    def describe(self) -> dict[str, object]:
        """The clock as GET /_local/clock shows it."""
        now = now_epoch()
        return {
            "offsetSeconds": self.offset,
            "now": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "nowEpoch": now,
        }
