"""/webhooks/endpoints: a tenant's webhook endpoints, their delivery log and replays (scope `webhooks`)."""

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
from project_service.logic import webhooks
from project_service.models import (
    WebhookAttemptPage,
    WebhookEndpointInput,
    WebhookEndpointPage,
    WebhookReplayInput,
)

app = api.create_app()


def webhook_context(*, queue: bool = False) -> webhooks.WebhookContext:
    return webhooks.WebhookContext(
        store=factory.webhook_store(),
        queue=factory.webhook_queue() if queue else None,
        policy=webhooks.delivery_policy(get_settings().stage),
    )


@app.post("/webhooks/endpoints", middlewares=[idempotency.idempotent])
def register_endpoint() -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    request = api.parse_body(app, WebhookEndpointInput)
    view = webhooks.register_endpoint(principal, request, webhook_context(), int(clock.now_epoch()))
    metrics.add_metric(name="WebhookEndpointsRegistered", unit=MetricUnit.Count, value=1)
    return view.dump(), 201


@app.get("/webhooks/endpoints")
def list_endpoints() -> dict[str, Any]:
    principal = api.principal(app)
    page = WebhookEndpointPage(items=webhooks.list_endpoints(principal, webhook_context()))
    metrics.add_metric(name="WebhookEndpointsListed", unit=MetricUnit.Count, value=1)
    return page.dump()


@app.get("/webhooks/endpoints/<endpoint_id>")
def get_endpoint(endpoint_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    view = webhooks.get_endpoint(principal, endpoint_id, webhook_context())
    metrics.add_metric(name="WebhookEndpointsLoaded", unit=MetricUnit.Count, value=1)
    return view.dump()


@app.delete("/webhooks/endpoints/<endpoint_id>")
def delete_endpoint(endpoint_id: str) -> api.Response:
    principal = api.principal(app)
    webhooks.delete_endpoint(principal, endpoint_id, webhook_context())
    metrics.add_metric(name="WebhookEndpointsDeleted", unit=MetricUnit.Count, value=1)
    return api.Response(status_code=204)


@app.post("/webhooks/endpoints/<endpoint_id>/enable")
def enable_endpoint(endpoint_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    view = webhooks.enable_endpoint(principal, endpoint_id, webhook_context())
    metrics.add_metric(name="WebhookEndpointsEnabled", unit=MetricUnit.Count, value=1)
    return view.dump()


@app.post("/webhooks/endpoints/<endpoint_id>/secret-rotations")
def rotate_secret(endpoint_id: str) -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    view = webhooks.rotate_secret(principal, endpoint_id, webhook_context(), int(clock.now_epoch()))
    metrics.add_metric(name="WebhookSecretsRotated", unit=MetricUnit.Count, value=1)
    return view.dump(), 201


@app.get("/webhooks/endpoints/<endpoint_id>/attempts")
def list_attempts(endpoint_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    items = webhooks.attempts(principal, endpoint_id, webhook_context(), clamp_limit(api.int_query(app, "limit")))
    metrics.add_metric(name="WebhookAttemptsListed", unit=MetricUnit.Count, value=1)
    return WebhookAttemptPage(items=items).dump()


@app.post("/webhooks/endpoints/<endpoint_id>/replays")
def replay(endpoint_id: str) -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    request = api.parse_body(app, WebhookReplayInput)
    view = webhooks.replay(principal, endpoint_id, request, webhook_context(queue=True), int(clock.now_epoch()))
    metrics.add_metric(name="WebhookEventsReplayed", unit=MetricUnit.Count, value=view.queued)
    return view.dump(), 202


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
