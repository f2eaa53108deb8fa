"""The EventBridge events the scheduler receives, as Powertools parser models."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from scheduler_service.models import UserLoggedOut


class UserLoggedOutEvent(EventBridgeModel):
    detail: UserLoggedOut  # type: ignore[assignment]
