"""The scheduler's dependencies, built from the layer's factories."""

from __future__ import annotations

from imagestore import tenants
from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.data.clients import lambda_client
from imagestore.data.expiry import ExpiryStore
from imagestore.data.functions import FunctionInvoker
from scheduler_service.logic.sweep import SweepContext


def expiry_store() -> ExpiryStore:
    return ExpiryStore(factory.table(), factory.image_bucket(), get_settings().expiry_shards)


def sweep_context() -> SweepContext:
    settings = get_settings()
    return SweepContext(
        expiry=expiry_store(),
        holders=factory.holder_store(),
        tenant=tenants.tenant_settings,
        shards=settings.expiry_shards,
    )


def function_invoker() -> FunctionInvoker:
    return FunctionInvoker(lambda_client)
