"""Schedule -> the next pages of the bucket's reconciliation: image objects no file item knows, and
document objects no item references, are deleted (OrphansDeleted counts both)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import clock
from imagestore.observability import lambda_handler, metrics
from scheduler_service.logic.backstop import reconcile
from scheduler_service.logic.context import expiry_store
from scheduler_service.models import ScheduledRun


@lambda_handler()
@event_parser(model=ScheduledRun)
def handler(event: ScheduledRun, context: LambdaContext) -> dict[str, Any]:
    report = reconcile(expiry_store(), int(clock.now_epoch()), pages=event.detail.pages)
    metrics.add_metric(
        name="OrphansDeleted", unit=MetricUnit.Count, value=report.orphans_deleted + report.documents_deleted
    )
    return report.dump()
