"""The tenant registry in the single table: the admin's writes and the functions' cached reads."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.parameters.base import BaseProvider

from imagestore import keys
from imagestore.data.table import Table
from imagestore.errors import ConditionFailed, NotFound
from imagestore.models.tenants import TenantRecord, TenantStatus

# What the cached reader keeps for a tenant the registry does not have (Powertools does not cache None).
ABSENT = ""


class TenantRegistry:
    """Every tenant of a stage: one item each in the TENANTS partition (imagestore.keys)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def document(self, tenant_id: str, *, consistent: bool = True) -> str | None:
        """The stored JSON document of a tenant, or None (one GetItem of the registry's partition)."""
        item = self.table.get(keys.tenant_registry_key(tenant_id), consistent=consistent)
        return str(item["document"]) if item else None

    def get(self, tenant_id: str) -> TenantRecord | None:
        document = self.document(tenant_id)
        return TenantRecord.from_document(document) if document is not None else None

    def list(self) -> list[TenantRecord]:
        """Every tenant, by id (the partition holds one small item per tenant)."""
        items = self.table.query_all(key_condition="pk = :pk", values={":pk": keys.TENANTS_PK}, consistent=True)
        return [TenantRecord.from_document(str(item["document"])) for item in items]

    def put(self, record: TenantRecord, now: int) -> None:
        """Create or replace a tenant's record."""
        self.table.put(record.to_item(now))

    def set_status(self, tenant_id: str, status: TenantStatus, now: int) -> TenantRecord:
        """Change a tenant's status, leaving the rest of its record as it is (a conditional put on the
        document read: a concurrent change is not overwritten)."""
        item = self.table.get(keys.tenant_registry_key(tenant_id))
        if item is None:
            raise NotFound(f"no tenant {tenant_id} in the registry")
        record = TenantRecord.from_document(str(item["document"])).model_copy(update={"status": status})
        try:
            self.table.put(
                record.to_item(now), condition="#d = :d", names={"#d": "document"}, values={":d": item["document"]}
            )
        except ConditionFailed as exc:
            raise ConditionFailed(f"tenant {tenant_id} changed meanwhile; run the command again") from exc
        return record


class CachedTenantDocuments(BaseProvider):
    """The registry's documents through Powertools' parameters cache: each tenant's document is read
    (GetItem, eventually consistent) at most once per max_age seconds per execution environment; a
    tenant the registry does not have is cached as ABSENT."""

    def __init__(self, registry: TenantRegistry) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Powertools' BaseProvider.__init__ is unannotated
        self.registry = registry

    def _get(self, name: str, **sdk_options: Any) -> str:
        document = self.registry.document(name, consistent=False)
        return ABSENT if document is None else document

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        return {record.tenant_id: json.dumps(record.document()) for record in self.registry.list()}
