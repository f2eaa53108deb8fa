"""POST and GET /mobile-uploads, GET and DELETE /mobile-uploads/{id}, its QR code, and the phone's session."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from file_service.logic import mobile_uploads
from file_service.models import MobileUploadRequest
from imagestore import api, clock, idempotency, tenants
from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.data.pagination import clamp_limit
from imagestore.models.files import Retention
from imagestore.observability import lambda_handler, logger, metrics

app = api.create_app()


def _context(tenant_id: str) -> mobile_uploads.MobileUploadContext:
    settings = get_settings()
    return mobile_uploads.MobileUploadContext(
        tenants.tenant_settings(tenant_id),
        factory.mobile_upload_store(),
        factory.image_bucket(),
        settings.public_base_url,
    )


@app.post("/mobile-uploads", middlewares=[idempotency.idempotent])
def create_mobile_upload() -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    request = api.parse_body(app, MobileUploadRequest) if app.current_event.body else MobileUploadRequest()
    created = mobile_uploads.create_mobile_upload(
        principal, Retention(request.retention), _context(principal.tenant_id), int(clock.now_epoch())
    )
    logger.info("mobile upload opened", mobile_upload_id=created.mobile_upload_id, retention=request.retention)
    metrics.add_metric(name="MobileUploadsOpened", unit=MetricUnit.Count, value=1)
    return created.dump(), 201


@app.get("/mobile-uploads")
def list_mobile_uploads() -> dict[str, Any]:
    principal = api.principal(app)
    page = mobile_uploads.list_mobile_uploads(
        principal,
        factory.mobile_upload_store(),
        clock.now_epoch(),
        limit=clamp_limit(api.int_query(app, "limit")),
        cursor=app.current_event.get_query_string_value("cursor"),
    )
    metrics.add_metric(name="MobileUploadsListed", unit=MetricUnit.Count, value=1)
    return page.dump()


@app.get("/mobile-uploads/<mobile_upload_id>")
def show_mobile_upload(mobile_upload_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    view = mobile_uploads.show_mobile_upload(
        principal, mobile_upload_id, _context(principal.tenant_id), clock.now_epoch()
    )
    metrics.add_metric(name="MobileUploadsShown", unit=MetricUnit.Count, value=1)
    return view.dump()


@app.delete("/mobile-uploads/<mobile_upload_id>")
def revoke_mobile_upload(mobile_upload_id: str) -> api.Response:
    principal = api.principal(app)
    mobile_uploads.revoke_mobile_upload(principal, mobile_upload_id, factory.mobile_upload_store(), clock.now_epoch())
    logger.info("mobile upload revoked", mobile_upload_id=mobile_upload_id)
    metrics.add_metric(name="MobileUploadsRevoked", unit=MetricUnit.Count, value=1)
    return api.Response(status_code=204)


@app.get("/mobile-uploads/<mobile_upload_id>/session")
def phone_session(mobile_upload_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    session = mobile_uploads.phone_session(
        principal, mobile_upload_id, _context(principal.tenant_id), clock.now_epoch()
    )
    metrics.add_metric(name="MobileUploadSessionsShown", unit=MetricUnit.Count, value=1)
    return session.dump()


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
