"""The project service's dependencies, built from the layer's factories."""

from __future__ import annotations

from imagestore.config import get_settings
from imagestore.data import factory
from project_service.logic.cart_items import CartContext
from project_service.logic.orders import OrderContext
from project_service.logic.projects import ProjectContext
from project_service.logic.shares import ShareContext


def project_context(tenant_id: str) -> ProjectContext:
    return ProjectContext(
        tenant=get_settings().tenant(tenant_id),
        files=factory.file_store(),
        holds=factory.hold_store(),
        projects=factory.project_store(),
        bucket=factory.image_bucket(),
        holders=factory.holder_store(),
    )


def share_context(tenant_id: str) -> ShareContext:
    return ShareContext(project=project_context(tenant_id), shares=factory.share_store(),
                        public_base_url=get_settings().public_base_url)


def cart_context(tenant_id: str) -> CartContext:
    return CartContext(project=project_context(tenant_id), cart_items=factory.cart_item_store())


def order_context(tenant_id: str) -> OrderContext:
    return OrderContext(project=project_context(tenant_id), cart_items=factory.cart_item_store(),
                        orders=factory.order_store(), events=factory.order_events())
