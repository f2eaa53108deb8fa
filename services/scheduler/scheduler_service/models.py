"""What the scheduler's functions receive: a scheduled run's options and the logout event's detail.

The envelope of the logout event, a Powertools parser model, is in scheduler_service.events: importing
Powertools' models package builds every AWS event model it has (about 30 ms of cold start), which the
scheduled functions (sweep, reconcile) do not need.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Due entries one sweep run takes at most. The run's time is the real bound (it stops while 30 s of its
# 300 s are left); this cap keeps one run's report and memory small. 4 runs a period x 50,000 entries:
# up to 200,000 removals per period (invariant 2 under a backlog).
MAX_ENTRIES = 50_000


class RunOptions(BaseModel):
    """Optional limits of one run (a manual invocation may set them).

    group/groups (the sweep only): the run sweeps the expiry shards whose number % groups == group.
    The sweep's schedule sends one event per group (services/scheduler/serverless.yml), so the runs of
    a period share the shards out and go in parallel, each with its own budget; a run invoked without
    them sweeps every shard."""

    model_config = ConfigDict(populate_by_name=True)

    max_entries: int = Field(default=MAX_ENTRIES, gt=0, alias="maxEntries")
    pages: int = Field(default=10, gt=0, le=1000)
    group: int = Field(default=0, ge=0)
    groups: int = Field(default=1, ge=1, le=256)

    @model_validator(mode="after")
    def _group_in_range(self) -> Self:
        if self.group >= self.groups:
            raise ValueError(f"group must be below groups ({self.groups})")
        return self


class ScheduledRun(BaseModel):
    """A scheduled event (EventBridge `Scheduled Event`, or the schedule's constant input
    `{"detail": {...}}`), or `{}` when the function is invoked by hand: only the detail is read."""

    model_config = ConfigDict(populate_by_name=True)

    detail_type: str = Field(default="Scheduled Event", alias="detail-type")
    detail: RunOptions = Field(default_factory=RunOptions)


class UserLoggedOut(BaseModel):
    """Detail of the shop's `UserLoggedOut` event."""

    model_config = ConfigDict(populate_by_name=True)

    tenant_id: str = Field(alias="tenantId", min_length=1)
    user_id: str = Field(alias="userId", min_length=1)
    session_id: str = Field(alias="sessionId", min_length=1)
