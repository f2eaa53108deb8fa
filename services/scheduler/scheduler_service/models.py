"""What the scheduler's functions receive: a scheduled run's options and the logout event's detail.

The envelope of the logout event, a Powertools parser model, is in scheduler_service.events: importing
Powertools' models package builds every AWS event model it has (about 30 ms of cold start), which the
scheduled functions (sweep, reconcile) do not need.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Due entries one sweep run takes at most. The run's time is the real bound (it stops while 30 s of its
# 300 s are left); this cap keeps one run's report and memory small. A group whose run stops with due
# entries left starts its next run at once (RunOptions.until), so a period's removals are bounded by
# the number of groups and the time, not by this cap.
MAX_ENTRIES = 50_000


class RunOptions(BaseModel):
    """Optional limits of one run (a manual invocation may set them).

    group/groups (the sweep only): the run sweeps the expiry shards whose number % groups == group.
    The sweep's schedule sends one fan-out event a period (services/scheduler/serverless.yml), whose run
    starts one run per group: the runs of a period share the shards out and go in parallel, each with
    its own budget; a run invoked without them sweeps every shard."""

    model_config = ConfigDict(populate_by_name=True)

    max_entries: int = Field(default=MAX_ENTRIES, gt=0, alias="maxEntries")
    pages: int = Field(default=10, gt=0, le=1000)
    group: int = Field(default=0, ge=0)
    groups: int = Field(default=1, ge=1, le=256)
    # fanOut (the schedule's event): the run sweeps nothing itself, it starts one run per group
    # (asynchronous invocations of this function), each with until = now + periodSeconds.
    fan_out: bool = Field(default=False, alias="fanOut")
    period_seconds: int = Field(default=900, gt=0, le=86_400, alias="periodSeconds")
    # A run started by a fan-out: while due entries are left and until has not passed, it starts the
    # next run of its group (hop + 1) when its own time is spent; after until, the next period's
    # fan-out takes the group over. A run without until (invoked by hand) never continues.
    until: int | None = Field(default=None, ge=0)
    hop: int = Field(default=0, ge=0, le=10_000)

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
