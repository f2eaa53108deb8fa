"""S3 ObjectCreated:Copy of a file's verified bytes (the completion's copy) -> its previews."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext

from file_service.logic.previews import make_previews
from imagestore import tenants
from imagestore.data import factory
from imagestore.observability import lambda_handler, metrics


@lambda_handler()
@event_parser(model=S3Model)
def handler(event: S3Model, context: LambdaContext) -> dict[str, Any]:
    outcomes: dict[str, str] = {}
    for record in event.Records:
        if record.s3.object is None:
            continue
        key = unquote_plus(record.s3.object.key)
        outcomes[key] = outcome = make_previews(
            key, factory.file_store(), factory.image_bucket(), tenants.tenant_settings
        )
        if outcome in ("ready", "failed"):
            metrics.add_metric(
                name="PreviewsMade" if outcome == "ready" else "PreviewsFailed", unit=MetricUnit.Count, value=1
            )
    return {"outcomes": outcomes}
