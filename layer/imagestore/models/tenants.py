"""The tenant registry's entity: everything a stage knows about one tenant (a white-label shop).

One item per tenant in the registry partition (imagestore.keys.tenant_registry_key):
  TENANTS / TENANT#{tid}   entity "tenant", status, and the whole record as its JSON document.
The document is what `imagestore-admin tenants get` prints and `tenants put` takes; this model
validates it on both sides (the CLI before writing, the functions when reading).

A field for another feature (e.g. the webhooks' endpoints) is added here as an optional field with a
default: documents written before it stay valid, and a document naming an unknown field is refused.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from imagestore import keys
from imagestore.config import TenantSettings

# As the token's `tid` claim (imagestore.auth): the id is part of table and S3 keys.
TENANT_ID_PATTERN = r"^[A-Za-z0-9._:@+-]{1,128}$"
# A usage plan's name in deploy/usage-plans.yml (plans are deployed resources; a tenant names one).
PLAN_NAME_PATTERN = r"^[A-Za-z0-9-]{1,40}$"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class TenantRecord(BaseModel):
    """One tenant of a stage: who it is, whether it may call the APIs, its usage plan and settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ENTITY: ClassVar[str] = "tenant"

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    display_name: str = Field(min_length=1, max_length=200)
    status: TenantStatus = TenantStatus.ACTIVE
    # The usage plan of deploy/usage-plans.yml whose API key the authorizer names for this tenant;
    # None: the key every tenant without a plan shares.
    usage_plan: str | None = Field(default=None, pattern=PLAN_NAME_PATTERN)
    # Limits, retention periods, link templates, CORS origins, print thresholds: defaults when absent.
    settings: TenantSettings = Field(default_factory=TenantSettings)

    @property
    def active(self) -> bool:
        return self.status is TenantStatus.ACTIVE

    def document(self) -> dict[str, Any]:
        """The JSON document of the record: only what differs from the defaults (and the identity)."""
        return self.model_dump(mode="json", exclude_defaults=True) | {
            "tenant_id": self.tenant_id,
            "display_name": self.display_name,
            "status": self.status.value,
        }

    def to_item(self, updated_at: int) -> dict[str, Any]:
        return {
            **keys.tenant_registry_key(self.tenant_id),
            "entity": self.ENTITY,
            "tenant_id": self.tenant_id,
            "status": self.status.value,
            "document": json.dumps(self.document(), sort_keys=True),
            "updated_at": updated_at,
        }

    @classmethod
    def from_document(cls, document: str) -> TenantRecord:
        """The record of a stored JSON document (raises pydantic's ValidationError when it is invalid)."""
        return cls.model_validate_json(document)
