"""POST /uploads and POST /uploads/{fileId}/complete."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from file_service.logic import uploads
from file_service.models import FileView, UploadRequest
from imagestore import api, clock
from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.observability import lambda_handler, logger, metrics

app = api.create_app()


def _context(tenant_id: str) -> uploads.UploadContext:
    return uploads.UploadContext(get_settings().tenant(tenant_id), factory.file_store(),
                                 factory.image_bucket(), factory.mobile_upload_store(), factory.webhook_bus())


@app.post("/uploads")
def request_upload() -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    request = api.parse_body(app, UploadRequest)
    ticket = uploads.request_upload(principal, request, _context(principal.tenant_id), int(clock.now_epoch()))
    logger.info("upload requested", file_id=ticket.file_id, bytes=request.size_bytes)
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=1)
    return ticket.dump(), 201


@app.post("/uploads/<file_id>/complete")
def complete_upload(file_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    ctx = _context(principal.tenant_id)
    now = int(clock.now_epoch())
    record = uploads.find_file_to_complete(principal, file_id, ctx, now)
    completed = uploads.complete_upload(record, ctx, now)
    metrics.add_metric(name="UploadsCompleted", unit=MetricUnit.Count, value=1)
    return FileView.of(completed).dump()


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
