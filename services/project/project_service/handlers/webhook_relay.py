"""Table stream records of webhook events written (INSERT, MODIFY: the template's filter) -> the bus."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import keys
from imagestore.data import factory
from imagestore.observability import lambda_handler, metrics
from project_service.logic.webhook_relay import relay


def _key(raw: Any) -> dict[str, str] | None:
    """pk and sk of a record's Keys (Powertools gives them deserialized; DynamoDB JSON tolerated)."""
    if not isinstance(raw, dict):
        return None
    plain = {k: (v.get("S") if isinstance(v, dict) else v) for k, v in raw.items()}
    pk, sk = plain.get("pk"), plain.get("sk")
    if isinstance(pk, str) and sk == keys.WEBHOOK_EVENT_SK and "#WHEVT#" in pk:
        return {"pk": pk, "sk": sk}
    return None


@lambda_handler()
@event_parser(model=DynamoDBStreamModel)
def handler(event: DynamoDBStreamModel, context: LambdaContext) -> dict[str, Any]:
    found = [
        _key(record.dynamodb.Keys)
        for record in event.Records
        if record.eventName in ("INSERT", "MODIFY") and record.dynamodb is not None
    ]
    event_keys = list({(k["pk"], k["sk"]): k for k in found if k is not None}.values())
    relayed = relay(event_keys, factory.webhook_store(), factory.webhook_bus())
    metrics.add_metric(name="WebhookEventsRelayed", unit=MetricUnit.Count, value=relayed)
    return {"records": len(event.Records), "relayed": relayed}
