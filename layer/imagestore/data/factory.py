"""The data-access objects of this execution environment, built on first use from the settings.

Each store's module is imported when the store is first built, so that a function loads only
the data access it uses (cold starts: a spike starts thousands of execution environments).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from imagestore.config import get_settings

if TYPE_CHECKING:
    from imagestore.data.cart_items import CartItemStore
    from imagestore.data.collaboration import CollaborationStore
    from imagestore.data.files import FileStore
    from imagestore.data.holders import HolderStore
    from imagestore.data.holds import HoldStore
    from imagestore.data.idempotency import IdempotencyStore
    from imagestore.data.mobile_uploads import MobileUploadStore
    from imagestore.data.orders import OrderEvents, OrderStore
    from imagestore.data.projects import ProjectStore
    from imagestore.data.shares import ShareStore
    from imagestore.data.storage import ImageBucket
    from imagestore.data.table import Table
    from imagestore.data.tenants import CachedTenantDocuments, TenantRegistry
    from imagestore.data.webhooks import WebhookBus, WebhookQueue, WebhookStore


@lru_cache(maxsize=1)
def table() -> Table:
    from imagestore.data.clients import dynamodb_client
    from imagestore.data.table import Table

    return Table(dynamodb_client, get_settings().table_name)  # the client is made on first use


@lru_cache(maxsize=1)
def image_bucket() -> ImageBucket:
    from imagestore.data.clients import s3_client
    from imagestore.data.storage import ImageBucket

    return ImageBucket(s3_client, get_settings().bucket_name)  # the client is made on first use


@lru_cache(maxsize=1)
def file_store() -> FileStore:
    from imagestore.data.files import FileStore

    return FileStore(table(), get_settings().expiry_shards)


def reset() -> None:
    """Forget everything built (tests point the process at a new backend)."""
    from imagestore.config import get_settings as settings
    from imagestore.data.clients import reset_clients

    for cached in (
        table,
        image_bucket,
        file_store,
        hold_store,
        holder_store,
        project_store,
        mobile_upload_store,
        share_store,
        collaboration_store,
        cart_item_store,
        order_store,
        order_events,
        webhook_store,
        webhook_bus,
        webhook_queue,
        tenant_registry,
        tenant_documents,
        idempotency_store,
        settings,
    ):
        cached.cache_clear()
    reset_clients()


@lru_cache(maxsize=1)
def hold_store() -> HoldStore:
    from imagestore.data.holds import HoldStore

    return HoldStore(table(), get_settings().expiry_shards)


@lru_cache(maxsize=1)
def project_store() -> ProjectStore:
    from imagestore.data.projects import ProjectStore

    return ProjectStore(table(), hold_store(), image_bucket(), get_settings().expiry_shards)


@lru_cache(maxsize=1)
def mobile_upload_store() -> MobileUploadStore:
    from imagestore.data.mobile_uploads import MobileUploadStore

    return MobileUploadStore(table(), get_settings().expiry_shards)


@lru_cache(maxsize=1)
def holder_store() -> HolderStore:
    from imagestore.data.holders import HolderStore

    return HolderStore(table(), hold_store(), image_bucket())


@lru_cache(maxsize=1)
def collaboration_store() -> CollaborationStore:
    from imagestore.data.collaboration import CollaborationStore

    return CollaborationStore(table(), get_settings().expiry_shards)


@lru_cache(maxsize=1)
def share_store() -> ShareStore:
    from imagestore.data.shares import ShareStore

    return ShareStore(table(), get_settings().expiry_shards)


@lru_cache(maxsize=1)
def cart_item_store() -> CartItemStore:
    from imagestore.data.cart_items import CartItemStore

    return CartItemStore(table(), get_settings().expiry_shards)


@lru_cache(maxsize=1)
def order_store() -> OrderStore:
    from imagestore.data.orders import OrderStore

    return OrderStore(table(), get_settings().expiry_shards)


@lru_cache(maxsize=1)
def order_events() -> OrderEvents:
    from imagestore.data.clients import events_client
    from imagestore.data.orders import OrderEvents

    return OrderEvents(events_client(), get_settings().event_bus_name)


@lru_cache(maxsize=1)
def webhook_store() -> WebhookStore:
    from imagestore.data.webhooks import WebhookStore

    return WebhookStore(table())


@lru_cache(maxsize=1)
def webhook_bus() -> WebhookBus:
    from imagestore.data.clients import events_client
    from imagestore.data.webhooks import WebhookBus

    return WebhookBus(events_client(), get_settings().event_bus_name)


@lru_cache(maxsize=1)
def webhook_queue() -> WebhookQueue:
    from imagestore.data.clients import sqs_client
    from imagestore.data.webhooks import WebhookQueue

    return WebhookQueue(sqs_client(), get_settings().webhook_queue_url)


@lru_cache(maxsize=1)
def tenant_registry() -> TenantRegistry:
    from imagestore.data.tenants import TenantRegistry

    return TenantRegistry(table())


@lru_cache(maxsize=1)
def tenant_documents() -> CachedTenantDocuments:
    """The registry's documents, cached per execution environment (imagestore.tenants)."""
    from imagestore.data.tenants import CachedTenantDocuments

    return CachedTenantDocuments(tenant_registry())


@lru_cache(maxsize=1)
def idempotency_store() -> IdempotencyStore:
    from imagestore.data.idempotency import IdempotencyStore

    return IdempotencyStore(table())
