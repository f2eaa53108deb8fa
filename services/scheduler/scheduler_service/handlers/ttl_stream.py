"""Table stream REMOVE records written by TTL -> the objects and items the removed items leave behind."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import clock
from imagestore.data import factory
from imagestore.observability import lambda_handler, metrics
from scheduler_service.logic.backstop import clean_up_after_ttl
from scheduler_service.logic.context import expiry_store

TTL_PRINCIPAL = "dynamodb.amazonaws.com"


@lambda_handler()
@event_parser(model=DynamoDBStreamModel)
def handler(event: DynamoDBStreamModel, context: LambdaContext) -> dict[str, Any]:
    removed_by_ttl = [
        dict(record.dynamodb.OldImage)  # type: ignore[arg-type]
        for record in event.Records
        if record.eventName == "REMOVE"
        and record.userIdentity is not None
        and record.userIdentity.principalId == TTL_PRINCIPAL
        and isinstance(record.dynamodb.OldImage, dict)
    ]
    objects = clean_up_after_ttl(removed_by_ttl, expiry_store(), factory.holder_store(), int(clock.now_epoch()))
    metrics.add_metric(name="TtlObjectsDeleted", unit=MetricUnit.Count, value=objects)
    return {"items": len(removed_by_ttl), "objectsDeleted": objects}
