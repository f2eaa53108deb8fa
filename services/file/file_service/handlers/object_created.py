"""S3 ObjectCreated: does what POST /uploads/{fileId}/complete does, idempotently."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext

from file_service.logic import uploads
from imagestore import clock, keys
from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.errors import DomainError
from imagestore.observability import lambda_handler, logger


@lambda_handler()
@event_parser(model=S3Model)
def handler(event: S3Model, context: LambdaContext) -> dict[str, Any]:
    outcomes: dict[str, str] = {}
    for record in event.Records:
        if record.s3.object is None:  # not an object event (e.g. a test event): nothing to complete
            continue
        key = unquote_plus(record.s3.object.key)
        outcomes[key] = complete_object(key)
    return {"outcomes": outcomes}


def complete_object(key: str) -> str:
    """Complete the upload an object belongs to; refusals are logged (the client sees them on complete)."""
    parsed = keys.parse_object_key(key)
    if parsed is None:
        logger.warning("object outside the imagestore layout", key=key)
        return "ignored"
    tenant_id, user_id, file_id = parsed
    files = factory.file_store()
    record = files.get_file(tenant_id, user_id, file_id)
    if record is None:
        logger.warning("object without a file record; left for reconciliation", key=key)
        return "orphan"
    ctx = uploads.UploadContext(get_settings().tenant(tenant_id), files, factory.image_bucket())
    try:
        uploads.complete_upload(record, ctx, int(clock.now_epoch()))
    except DomainError as exc:
        logger.info("object refused", key=key, code=exc.code, reason=exc.message)
        return exc.code
    return "available"
