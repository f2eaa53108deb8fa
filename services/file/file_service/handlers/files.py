"""GET /files, GET /files/{fileId}, GET /files/{fileId}/print-check, DELETE /files/{fileId}."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from file_service.logic import files
from imagestore import api, clock, tenants
from imagestore.data import factory
from imagestore.observability import lambda_handler, logger, metrics

app = api.create_app()


@app.get("/files")
def list_files() -> dict[str, Any]:
    principal = api.principal(app)
    page = files.list_files(
        principal,
        factory.file_store(),
        factory.image_bucket(),
        tenants.tenant_settings(principal.tenant_id),
        limit=api.int_query(app, "limit"),
        cursor=app.current_event.get_query_string_value("cursor"),
        now=clock.now_epoch(),
    )
    metrics.add_metric(name="FilesListed", unit=MetricUnit.Count, value=1)
    return page.dump()


@app.get("/files/<file_id>")
def get_file(file_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    view = files.get_file(
        principal,
        file_id,
        factory.file_store(),
        factory.image_bucket(),
        tenants.tenant_settings(principal.tenant_id),
        clock.now_epoch(),
    )
    metrics.add_metric(name="FilesRead", unit=MetricUnit.Count, value=1)
    return view.dump()


@app.get("/files/<file_id>/print-check")
def check_print(file_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    event = app.current_event
    check = files.check_print(
        principal,
        file_id,
        factory.file_store(),
        tenants.tenant_settings(principal.tenant_id),
        clock.now_epoch(),
        width_mm=event.get_query_string_value("widthMm"),
        height_mm=event.get_query_string_value("heightMm"),
    )
    metrics.add_metric(name="PrintChecks", unit=MetricUnit.Count, value=1)
    return check.dump()


@app.delete("/files/<file_id>")
def delete_file(file_id: str) -> api.Response:
    principal = api.principal(app)
    files.delete_file(principal, file_id, factory.file_store(), factory.image_bucket(), clock.now_epoch())
    logger.info("file deleted", file_id=file_id)
    metrics.add_metric(name="FilesDeleted", unit=MetricUnit.Count, value=1)
    return api.Response(status_code=204)


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
