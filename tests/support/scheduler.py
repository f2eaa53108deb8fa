"""Running the scheduler's functions in-process, as the schedule would."""

from __future__ import annotations

from typing import Any

from tests.support.events import LambdaContext


def run_sweep(event: dict[str, Any] | None = None) -> dict[str, Any]:
    """One hand-invoked sweep over every shard; its report."""
    from scheduler_service.handlers.sweep import handler

    return handler(event or {}, LambdaContext())
