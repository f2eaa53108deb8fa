"""The project entity: a saved design (photo book, calendar, ...) and the files it uses."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from imagestore import keys
from imagestore.models.files import expiry_attributes


class ProjectStatus(StrEnum):
    ACTIVE = "active"
    DELETING = "deleting"


class ProjectRecord(BaseModel):
    """A project's META item. Its document is inline (JSON text) or, when too large for an item,
    in S3 under document_key; its files are hold links in the same partition."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "project"

    tenant_id: str
    user_id: str
    project_id: str
    name: str
    product_type: str
    version: int
    created_at: int
    saved_at: int
    expires_at: int
    file_ids: tuple[str, ...] = ()
    document: str | None = None
    document_key: str | None = None
    status: ProjectStatus = ProjectStatus.ACTIVE

    @property
    def pk(self) -> str:
        return keys.project_pk(self.tenant_id, self.project_id)

    @property
    def key(self) -> dict[str, str]:
        return {"pk": self.pk, "sk": keys.META}

    def is_live(self, now: float) -> bool:
        return self.status is ProjectStatus.ACTIVE and self.expires_at > now

    def to_item(self, expiry_shards: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self.key,
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "userId": self.user_id,
            "projectId": self.project_id,
            "name": self.name,
            "productType": self.product_type,
            "version": self.version,
            "createdAt": self.created_at,
            "savedAt": self.saved_at,
            "expiresAt": self.expires_at,
            "fileIds": list(self.file_ids),
            "status": self.status.value,
            "gsi1pk": keys.projects_of_user(self.tenant_id, self.user_id),
            "gsi1sk": keys.by_time(self.saved_at, self.project_id),
            **expiry_attributes(self.key, self.expires_at, expiry_shards),
        }
        if self.document is not None:
            item["document"] = self.document
        if self.document_key is not None:
            item["documentKey"] = self.document_key
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ProjectRecord:
        return cls(
            tenant_id=item["tenantId"], user_id=item["userId"], project_id=item["projectId"],
            name=item["name"], product_type=item["productType"], version=int(item["version"]),
            created_at=int(item["createdAt"]), saved_at=int(item["savedAt"]),
            expires_at=int(item["expiresAt"]), file_ids=tuple(item.get("fileIds", [])),
            document=item.get("document"), document_key=item.get("documentKey"),
            status=ProjectStatus(item.get("status", "active")),
        )
