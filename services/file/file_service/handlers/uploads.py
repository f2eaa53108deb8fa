"""POST /uploads, POST /uploads/{fileId}/complete and their batches (POST /upload-batches,
POST /upload-batches/complete); multipart uploads (POST /multipart-uploads, its parts, complete, DELETE)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from file_service.logic import multipart, uploads
from file_service.models import (
    CompleteBatchItem,
    CompleteBatchRequest,
    CompleteBatchResult,
    CompleteMultipartRequest,
    ErrorBody,
    FileView,
    MultipartRequest,
    SignPartsRequest,
    UploadBatchItem,
    UploadBatchRequest,
    UploadBatchResult,
    UploadRequest,
    UploadTicket,
)
from imagestore import api, clock, errors, idempotency, tenants
from imagestore.data import factory
from imagestore.models.files import FileRecord
from imagestore.observability import lambda_handler, logger, metrics

app = api.create_app()


def _context(tenant_id: str) -> uploads.UploadContext:
    return uploads.UploadContext(
        tenants.tenant_settings(tenant_id),
        factory.file_store(),
        factory.image_bucket(),
        factory.mobile_upload_store(),
    )


@app.post("/uploads", middlewares=[idempotency.idempotent])
def request_upload() -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    request = api.parse_body(app, UploadRequest)
    ticket = uploads.request_upload(principal, request, _context(principal.tenant_id), int(clock.now_epoch()))
    logger.info("upload requested", file_id=ticket.file_id, bytes=request.size_bytes, duplicate=ticket.duplicate)
    if ticket.duplicate:
        metrics.add_metric(name="UploadDuplicates", unit=MetricUnit.Count, value=1)
        return ticket.dump(), 200
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=1)
    return ticket.dump(), 201


def _error(exc: errors.DomainError) -> ErrorBody:
    return ErrorBody(code=exc.code, message=exc.message, details=exc.details or None)


@app.post("/upload-batches", middlewares=[idempotency.idempotent])
def request_uploads() -> dict[str, Any]:
    principal = api.principal(app)
    batch = api.parse_body(app, UploadBatchRequest)
    outcomes = uploads.request_uploads(
        principal, list(batch.files), _context(principal.tenant_id), int(clock.now_epoch())
    )
    items = []
    for index, outcome in enumerate(outcomes):
        if outcome.error is not None:
            items.append(UploadBatchItem(index=index, status=api.status_of(outcome.error), error=_error(outcome.error)))
        else:
            assert isinstance(outcome.result, UploadTicket)
            items.append(
                UploadBatchItem(index=index, status=200 if outcome.result.duplicate else 201, ticket=outcome.result)
            )
    duplicates = sum(1 for i in items if i.status == 200)
    failed = sum(1 for i in items if i.error is not None)
    logger.info("uploads requested", files=len(items), duplicates=duplicates, failed=failed)
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=len(items) - duplicates - failed)
    metrics.add_metric(name="UploadDuplicates", unit=MetricUnit.Count, value=duplicates)
    return UploadBatchResult(items=items, duplicates=duplicates, failed=failed).dump()


@app.post("/upload-batches/complete")
def complete_uploads() -> dict[str, Any]:
    principal = api.principal(app)
    batch = api.parse_body(app, CompleteBatchRequest)
    outcomes = uploads.complete_uploads(
        principal, batch.file_ids, _context(principal.tenant_id), int(clock.now_epoch())
    )
    items = []
    for index, (file_id, outcome) in enumerate(zip(batch.file_ids, outcomes, strict=True)):
        if outcome.error is not None:
            items.append(
                CompleteBatchItem(
                    index=index, file_id=file_id, status=api.status_of(outcome.error), error=_error(outcome.error)
                )
            )
        else:
            assert isinstance(outcome.result, FileRecord)
            items.append(CompleteBatchItem(index=index, file_id=file_id, status=200, file=FileView.of(outcome.result)))
    failed = sum(1 for i in items if i.error is not None)
    logger.info("uploads completed", files=len(items), failed=failed)
    metrics.add_metric(name="UploadsCompleted", unit=MetricUnit.Count, value=len(items) - failed)
    return CompleteBatchResult(items=items, failed=failed).dump()


@app.post("/uploads/<file_id>/complete")
def complete_upload(file_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    ctx = _context(principal.tenant_id)
    now = int(clock.now_epoch())
    record = uploads.find_file_to_complete(principal, file_id, ctx, now)
    completed = uploads.complete_upload(record, ctx, now)
    metrics.add_metric(name="UploadsCompleted", unit=MetricUnit.Count, value=1)
    return FileView.of(completed).dump()


@app.post("/multipart-uploads", middlewares=[idempotency.idempotent])
def create_multipart_upload() -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    request = api.parse_body(app, MultipartRequest)
    ticket = multipart.create_multipart_upload(
        principal, request, _context(principal.tenant_id), int(clock.now_epoch())
    )
    logger.info(
        "multipart upload created",
        file_id=ticket.file_id,
        bytes=request.size_bytes,
        parts=ticket.part_count,
        duplicate=ticket.duplicate,
    )
    if ticket.duplicate:
        metrics.add_metric(name="UploadDuplicates", unit=MetricUnit.Count, value=1)
        return ticket.dump(), 200
    metrics.add_metric(name="MultipartUploadsCreated", unit=MetricUnit.Count, value=1)
    return ticket.dump(), 201


def _multipart_file(file_id: str) -> tuple[FileRecord, uploads.UploadContext, int]:
    principal = api.principal(app)
    ctx = _context(principal.tenant_id)
    now = int(clock.now_epoch())
    return uploads.find_file_to_complete(principal, file_id, ctx, now), ctx, now


@app.post("/multipart-uploads/<file_id>/parts")
def sign_multipart_parts(file_id: str) -> dict[str, Any]:
    record, ctx, now = _multipart_file(file_id)
    request = api.parse_body(app, SignPartsRequest)
    signed = multipart.sign_parts(record, request.parts, ctx, now)
    metrics.add_metric(name="MultipartPartsSigned", unit=MetricUnit.Count, value=len(signed.parts))
    return signed.dump()


@app.get("/multipart-uploads/<file_id>/parts")
def list_multipart_parts(file_id: str) -> dict[str, Any]:
    record, ctx, _ = _multipart_file(file_id)
    view = multipart.list_parts(record, ctx)
    metrics.add_metric(name="MultipartPartsListed", unit=MetricUnit.Count, value=1)
    return view.dump()


@app.post("/multipart-uploads/<file_id>/complete")
def complete_multipart_upload(file_id: str) -> dict[str, Any]:
    record, ctx, now = _multipart_file(file_id)
    request = api.parse_body(app, CompleteMultipartRequest) if app.current_event.body else CompleteMultipartRequest()
    multipart.check_part_list(record, request.parts)
    completed = uploads.complete_upload(record, ctx, now)
    metrics.add_metric(name="UploadsCompleted", unit=MetricUnit.Count, value=1)
    return FileView.of(completed).dump()


@app.delete("/multipart-uploads/<file_id>")
def abort_multipart_upload(file_id: str) -> api.Response:
    record, ctx, _ = _multipart_file(file_id)
    multipart.abort(record, ctx)
    logger.info("multipart upload aborted", file_id=file_id)
    metrics.add_metric(name="MultipartUploadsAborted", unit=MetricUnit.Count, value=1)
    return api.Response(status_code=204)


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
