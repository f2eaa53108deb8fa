"""The webhook queue's messages (SQS event source, partial batch responses): fan-out and deliveries."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import SqsModel, SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import clock
from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.observability import lambda_handler, logger, metrics
from project_service.logic import webhook_delivery
from project_service.logic.webhooks import delivery_policy


def delivery_context() -> webhook_delivery.DeliveryContext:
    settings = get_settings()
    return webhook_delivery.DeliveryContext(
        store=factory.webhook_store(),
        queue=factory.webhook_queue(),
        policy=delivery_policy(settings.stage),
        retry_base_seconds=settings.webhook_retry_base_seconds,
        disable_after_seconds=settings.webhook_disable_after_seconds,
    )


def _process(record: SqsRecordModel, ctx: webhook_delivery.DeliveryContext) -> webhook_delivery.Outcome:
    attempt = int(record.attributes.ApproximateReceiveCount)
    try:
        outcome = webhook_delivery.handle_message(json.loads(str(record.body)), attempt, ctx, int(clock.now_epoch()))
    except Exception:  # this message only: it comes back after its backoff (the others of the batch are done)
        logger.exception("webhook message failed", message_id=record.messageId, attempt=attempt)
        outcome = webhook_delivery.Outcome(
            done=False, retry_in=webhook_delivery.backoff_seconds(attempt, ctx.retry_base_seconds)
        )
    if not outcome.done:
        ctx.queue.retry_later(record.receiptHandle, outcome.retry_in)
    return outcome


@lambda_handler()
@event_parser(model=SqsModel)
def handler(event: SqsModel, context: LambdaContext) -> dict[str, Any]:
    """Deliveries of one batch run side by side (each waits up to 10 s for its endpoint); the failed
    ones are reported (batchItemFailures) and stay in the queue, hidden for their backoff."""
    ctx = delivery_context()
    with ThreadPoolExecutor(max_workers=max(1, len(event.Records))) as pool:
        outcomes = list(pool.map(lambda r: _process(r, ctx), event.Records))
    failures = [{"itemIdentifier": r.messageId} for r, o in zip(event.Records, outcomes, strict=True) if not o.done]
    for name, value in (
        ("WebhooksDelivered", sum(o.delivered for o in outcomes)),
        ("WebhookDeliveriesFailed", len(failures)),
        ("WebhookEndpointsDisabled", sum(o.disabled for o in outcomes)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return {"batchItemFailures": failures}
