"""The scheduler's dependencies, built from the layer's factories.

What only the sweep uses (its context: the holder store, the tenant registry; the Lambda client of its
fan-out) is imported when the sweep asks for it, not by every function that imports this module: the
logout, reconcile and TTL stream functions need the expiry store alone (cold start, issue 28 item 7).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.data.expiry import ExpiryStore

if TYPE_CHECKING:
    from imagestore.data.functions import FunctionInvoker
    from scheduler_service.logic.sweep import SweepContext


def expiry_store() -> ExpiryStore:
    return ExpiryStore(factory.table(), factory.image_bucket(), get_settings().expiry_shards)


def sweep_context() -> SweepContext:
    from imagestore import tenants
    from scheduler_service.logic.sweep import SweepContext

    settings = get_settings()
    return SweepContext(
        expiry=expiry_store(),
        holders=factory.holder_store(),
        tenant=tenants.tenant_settings,
        shards=settings.expiry_shards,
    )


def function_invoker() -> FunctionInvoker:
    from imagestore.data.clients import lambda_client
    from imagestore.data.functions import FunctionInvoker

    return FunctionInvoker(lambda_client)
