"""POST and GET /orders, GET /orders/{orderId}, POST /orders/{orderId}/resubmissions."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import api, clock, idempotency
from imagestore.data import factory
from imagestore.data.pagination import clamp_limit
from imagestore.observability import lambda_handler, metrics
from project_service.logic import orders
from project_service.logic.context import project_context
from project_service.models import OrderInput

app = api.create_app()


def order_context(tenant_id: str) -> orders.OrderContext:
    return orders.OrderContext(
        project=project_context(tenant_id),
        cart_items=factory.cart_item_store(),
        orders=factory.order_store(),
        events=factory.order_events(),
    )


@app.post("/orders", middlewares=[idempotency.idempotent])
def place_order() -> tuple[dict[str, Any], int]:
    """201 when the order is placed now, 200 with the same order for a repeated externalOrderRef."""
    principal = api.principal(app)
    request = api.parse_body(app, OrderInput)
    view, created = orders.place_order(principal, request, order_context(principal.tenant_id), int(clock.now_epoch()))
    metrics.add_metric(name="OrdersPlaced" if created else "OrdersRepeated", unit=MetricUnit.Count, value=1)
    return view.dump(), 201 if created else 200


@app.get("/orders")
def list_orders() -> dict[str, Any]:
    principal = api.principal(app)
    page = orders.list_orders(
        principal,
        order_context(principal.tenant_id),
        int(clock.now_epoch()),
        limit=clamp_limit(api.int_query(app, "limit")),
        cursor=app.current_event.get_query_string_value("cursor"),
    )
    metrics.add_metric(name="OrdersListed", unit=MetricUnit.Count, value=1)
    return page.dump()


@app.get("/orders/<order_id>")
def get_order(order_id: str) -> dict[str, Any]:
    principal = api.principal(app)
    view = orders.get_order(
        principal,
        order_id,
        order_context(principal.tenant_id),
        int(clock.now_epoch()),
        app.current_event.get_query_string_value("filesCursor"),
    )
    metrics.add_metric(name="OrdersLoaded", unit=MetricUnit.Count, value=1)
    return view.dump()


@app.post("/orders/<order_id>/resubmissions", middlewares=[idempotency.idempotent])
def resubmit_order(order_id: str) -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    view = orders.resubmit_order(principal, order_id, order_context(principal.tenant_id), int(clock.now_epoch()))
    metrics.add_metric(name="OrdersResubmitted", unit=MetricUnit.Count, value=1)
    return view.dump(), 202


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
