"""POST/GET /cart-items, DELETE /cart-items/{cartItemId}."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import api, clock, idempotency
from imagestore.data import factory
from imagestore.data.pagination import clamp_limit
from imagestore.observability import lambda_handler, metrics
from project_service.logic import cart_items
from project_service.logic.context import project_context
from project_service.models import CartItemInput

app = api.create_app()


def cart_context(tenant_id: str) -> cart_items.CartContext:
    return cart_items.CartContext(project=project_context(tenant_id), cart_items=factory.cart_item_store())


@app.post("/cart-items", middlewares=[idempotency.idempotent])
def add_cart_item() -> tuple[dict[str, Any], int]:
    principal = api.principal(app)
    request = api.parse_body(app, CartItemInput)
    view = cart_items.add_cart_item(principal, request, cart_context(principal.tenant_id), int(clock.now_epoch()))
    metrics.add_metric(name="CartItemsAdded", unit=MetricUnit.Count, value=1)
    return view.dump(), 201


@app.get("/cart-items")
def list_cart_items() -> dict[str, Any]:
    principal = api.principal(app)
    event = app.current_event
    page = cart_items.list_cart_items(
        principal,
        cart_context(principal.tenant_id),
        int(clock.now_epoch()),
        limit=clamp_limit(api.int_query(app, "limit")),
        cursor=event.get_query_string_value("cursor"),
        external_cart_id=event.get_query_string_value("externalCartId") or None,
    )
    metrics.add_metric(name="CartItemsListed", unit=MetricUnit.Count, value=1)
    return page.dump()


@app.delete("/cart-items/<cart_item_id>")
def delete_cart_item(cart_item_id: str) -> api.Response:
    principal = api.principal(app)
    cart_items.delete_cart_item(principal, cart_item_id, cart_context(principal.tenant_id), int(clock.now_epoch()))
    metrics.add_metric(name="CartItemsDeleted", unit=MetricUnit.Count, value=1)
    return api.Response(status_code=204)


@lambda_handler(correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
