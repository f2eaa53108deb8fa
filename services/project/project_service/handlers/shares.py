"""POST and GET /projects/{projectId}/shares, DELETE /projects/{projectId}/shares/{shareId},
GET /shares/{token}, POST /shares/{token}/copies."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import api, clock, idempotency
from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.data.pagination import clamp_limit
from imagestore.observability import lambda_handler, metrics
from project_service.logic import shares
from project_service.logic.context import project_context
from project_service.models import ShareInput

app = api.create_app()


def share_context(tenant_id: str) -> shares.ShareContext:
    return shares.ShareContext(
        project=project_context(tenant_id), shares=factory.share_store(), public_base_url=get_settings().public_base_url
    )


@app.post("/projects/<project_id>/shares", middlewares=[idempotency.idempotent])
def create_share(project_id: str) -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    request = api.parse_body(app, ShareInput)
    created = shares.create_share(
        principal, project_id, request, share_context(principal.tenant_id), int(clock.now_epoch())
    )
    metrics.add_metric(name="SharesCreated", unit=MetricUnit.Count, value=1)
    return created.dump(), 201


@app.get("/projects/<project_id>/shares")
def list_shares(project_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    page = shares.list_shares(
        principal,
        project_id,
        share_context(principal.tenant_id),
        int(clock.now_epoch()),
        limit=clamp_limit(api.int_query(app, "limit")),
        cursor=app.current_event.get_query_string_value("cursor"),
    )
    metrics.add_metric(name="SharesListed", unit=MetricUnit.Count, value=1)
    return page.dump()


@app.delete("/projects/<project_id>/shares/<share_id>")
def revoke_share(project_id: str, share_id: str) -> api.Response:
    principal = api.principal(app)
    shares.revoke_share(principal, project_id, share_id, share_context(principal.tenant_id))
    metrics.add_metric(name="SharesRevoked", unit=MetricUnit.Count, value=1)
    return api.Response(status_code=204)


@app.get("/shares/<token>")
def view_share(token: str) -> dict[str, Any]:
    principal = api.principal(app)
    view = shares.view_share(
        principal,
        token,
        share_context(principal.tenant_id),
        int(clock.now_epoch()),
        app.current_event.get_query_string_value("filesCursor"),
    )
    metrics.add_metric(name="SharesViewed", unit=MetricUnit.Count, value=1)
    return view.dump()


@app.post("/shares/<token>/copies", middlewares=[idempotency.idempotent])
def copy_share(token: str) -> api.Response:
    principal = api.principal(app)
    copy = shares.copy_share(principal, token, share_context(principal.tenant_id), int(clock.now_epoch()))
    metrics.add_metric(name="SharesCopied", unit=MetricUnit.Count, value=1)
    return api.versioned(copy, copy.version, 201)


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
