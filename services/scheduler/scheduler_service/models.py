"""What the scheduler's functions receive: a scheduled run's options and the logout event's detail.

The envelope of the logout event, a Powertools parser model, is in scheduler_service.events: importing
Powertools' models package builds every AWS event model it has (about 30 ms of cold start), which the
scheduled functions (sweep, reconcile) do not need.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RunOptions(BaseModel):
    """Optional limits of one run (the schedule sends none; a manual invocation may)."""

    model_config = ConfigDict(populate_by_name=True)

    max_entries: int = Field(default=5000, gt=0, alias="maxEntries")
    pages: int = Field(default=10, gt=0, le=1000)


class ScheduledRun(BaseModel):
    """A scheduled event (EventBridge `Scheduled Event`), or `{}` when the function is invoked by hand:
    only the detail is read."""

    model_config = ConfigDict(populate_by_name=True)

    detail_type: str = Field(default="Scheduled Event", alias="detail-type")
    detail: RunOptions = Field(default_factory=RunOptions)


class UserLoggedOut(BaseModel):
    """Detail of the shop's `UserLoggedOut` event."""

    model_config = ConfigDict(populate_by_name=True)

    tenant_id: str = Field(alias="tenantId", min_length=1)
    user_id: str = Field(alias="userId", min_length=1)
    session_id: str = Field(alias="sessionId", min_length=1)
