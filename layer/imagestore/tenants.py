"""The tenant registry's read path: what every function asks about the caller's tenant.

Entries are read through imagestore.data.tenants.CachedTenantDocuments (Powertools' parameters
cache, Settings.tenant_cache_seconds): a change made with `imagestore-admin tenants put|disable`
reaches every execution environment within that many seconds, without a deploy or restart.
"""

from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from pydantic import ValidationError

from imagestore.config import TenantSettings, get_settings
from imagestore.data import factory
from imagestore.errors import DomainError, TenantDisabled, TenantMisconfigured, UnknownTenant
from imagestore.models.tenants import TenantRecord
from imagestore.observability import logger


def tenant_record(tenant_id: str) -> TenantRecord | None:
    """The tenant's registry entry (cached), or None when the registry does not have it."""
    try:
        document = factory.tenant_documents().get(tenant_id, max_age=get_settings().tenant_cache_seconds)
    except GetParameterError as exc:
        # Powertools wraps what the read raised; a domain error (the table throttled) is answered as such.
        if isinstance(exc.__context__, DomainError):
            raise exc.__context__ from None
        raise
    if not document:  # imagestore.data.tenants.ABSENT
        return None
    return _parse(str(document))


@lru_cache(maxsize=256)
def _parse(document: str) -> TenantRecord:
    try:
        return TenantRecord.from_document(document)
    except ValidationError as exc:
        logger.error("tenant registry entry is invalid", problems=exc.errors(include_url=False, include_input=False))
        raise TenantMisconfigured("this tenant's registry entry is invalid; the operator has been told") from exc


def tenant_settings(tenant_id: str) -> TenantSettings:
    """The tenant's settings: its registry entry's, else (a tenant not in the registry) the stage's
    defaults for unknown tenants (Settings.tenant)."""
    record = tenant_record(tenant_id)
    return record.settings if record is not None else get_settings().tenant(tenant_id)


def require_active(tenant_id: str) -> TenantRecord | None:
    """Refuse a disabled tenant (403 tenant_disabled) and, on a stage whose unknownTenants is
    "refuse", a tenant the registry does not have (403 unknown_tenant)."""
    record = tenant_record(tenant_id)
    if record is None:
        if get_settings().unknown_tenants == "refuse":
            raise UnknownTenant(f"tenant {tenant_id} is not registered on this stage")
        return None
    if not record.active:
        raise TenantDisabled(f"tenant {tenant_id} is disabled")
    return record
