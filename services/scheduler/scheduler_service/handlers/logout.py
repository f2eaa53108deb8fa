"""EventBridge UserLoggedOut -> the session's unheld uploads are removed at once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import clock
from imagestore.observability import lambda_handler, logger, metrics
from scheduler_service.events import UserLoggedOutEvent
from scheduler_service.logic.context import expiry_store
from scheduler_service.logic.logout import end_session


@lambda_handler()
@event_parser(model=UserLoggedOutEvent)
def handler(event: UserLoggedOutEvent, context: LambdaContext) -> dict[str, Any]:
    detail = event.detail
    logger.append_keys(tenant_id=detail.tenant_id, user_id=detail.user_id)
    report = end_session(expiry_store(), detail.tenant_id, detail.user_id, detail.session_id, int(clock.now_epoch()))
    metrics.add_metric(name="LogoutFilesRemoved", unit=MetricUnit.Count, value=report.files_removed)
    return report.dump()
