"""S3 ObjectCreated: does what POST /uploads/{fileId}/complete does, idempotently."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext

from file_service.logic import uploads
from imagestore import clock, keys, tenants
from imagestore.data import factory
from imagestore.errors import DomainError
from imagestore.keys import object_key_of_staging
from imagestore.models.files import FileStatus
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
    """Complete the upload a staging object belongs to; refusals are logged (the client sees them on
    complete). A staging object that nothing can complete any more (its file is available or gone: a
    POST repeated with a still-valid URL) is deleted at once; it was never served."""
    final_key = object_key_of_staging(key)
    parsed = keys.parse_object_key(final_key) if final_key is not None else None
    if parsed is None:
        # The object key itself (written by complete_upload's copy), documents, anything else.
        return "ignored"
    tenant_id, user_id, file_id = parsed
    files = factory.file_store()
    record = files.get_file(tenant_id, user_id, file_id)
    if record is None or record.status is not FileStatus.PENDING:
        factory.image_bucket().delete_objects([key])
        logger.info(
            "staging object deleted: its file is no longer pending",
            file_id=file_id,
            status=record.status.value if record else "gone",
        )
        return "discarded"
    ctx = uploads.UploadContext(tenants.tenant_settings(tenant_id), files, factory.image_bucket())
    try:
        uploads.complete_upload(record, ctx, int(clock.now_epoch()))
    except DomainError as exc:
        logger.info("object refused", file_id=file_id, code=exc.code, reason=exc.message)
        return exc.code
    return "available"
