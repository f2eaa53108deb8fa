"""The share entity: a capability link to one project, for viewing it or copying it.

A share is two items written together:
  T#{tid}#SHARE#{sha256(token)} / META   looked up by the token's hash (the token itself is never
                                         stored); entity "share", in the expiry index, and naming
                                         the item below as its companion so the sweep deletes both.
  T#{tid}#P#{projectId} / SHARE#{id}     in the project's partition (to revoke by id, and removed
                                         with the project), naming the token item as its companion.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from imagestore import keys
from imagestore.models.files import expiry_attributes


class ShareMode(StrEnum):
    VIEW = "view"
    COPY = "copy"


class ShareRecord(BaseModel):
    """A share of a project, as both of its items describe it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "share"

    tenant_id: str
    owner_id: str
    project_id: str
    share_id: str
    token_hash: str
    mode: ShareMode
    created_at: int
    expires_at: int

    @property
    def token_key(self) -> dict[str, str]:
        return keys.share_token_key(self.tenant_id, self.token_hash)

    @property
    def project_item_key(self) -> dict[str, str]:
        return keys.project_share_key(self.tenant_id, self.project_id, self.share_id)

    def is_live(self, now: float) -> bool:
        return self.expires_at > now

    def _attributes(self) -> dict[str, Any]:
        return {
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "ownerId": self.owner_id,
            "projectId": self.project_id,
            "shareId": self.share_id,
            "tokenHash": self.token_hash,
            "mode": self.mode.value,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
        }

    def to_token_item(self, expiry_shards: int) -> dict[str, Any]:
        """The lookup item: expires (expiry index, TTL backstop) together with its companion."""
        return {
            **self.token_key,
            **self._attributes(),
            "companionKeys": [self.project_item_key],
            **expiry_attributes(self.token_key, self.expires_at, expiry_shards),
        }

    def to_project_item(self) -> dict[str, Any]:
        """The item in the project's partition; removing the project removes the token item too."""
        return {**self.project_item_key, **self._attributes(), "companionKeys": [self.token_key]}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ShareRecord:
        return cls(
            tenant_id=item["tenantId"],
            owner_id=item["ownerId"],
            project_id=item["projectId"],
            share_id=item["shareId"],
            token_hash=item["tokenHash"],
            mode=ShareMode(item["mode"]),
            created_at=int(item["createdAt"]),
            expires_at=int(item["expiresAt"]),
        )
