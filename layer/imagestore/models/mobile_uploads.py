"""The mobile upload entity: a phone's time-limited capability to upload into a desktop session."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from imagestore import keys
from imagestore.models.files import Retention, expiry_attributes

TOKEN_PREFIX = "mu1."


class MobileUploadRecord(BaseModel):
    """A mobile upload's META item. The phone's token is stored only as its hash.

    link_expires_at ends the window in which the phone may upload (the tenant's link period);
    expires_at is when the item itself is no longer needed (the files' retention after that).
    file_count and uploaded_bytes count the reserved upload slots, against max_files and max_bytes.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "mobile_upload"

    tenant_id: str
    user_id: str
    session_id: str
    mobile_upload_id: str
    token_hash: str
    retention: Retention
    created_at: int
    link_expires_at: int
    expires_at: int
    max_files: int
    max_bytes: int
    file_count: int = 0
    uploaded_bytes: int = 0
    revoked: bool = False

    @property
    def key(self) -> dict[str, str]:
        return keys.mobile_upload_key(self.tenant_id, self.mobile_upload_id)

    def is_open(self, now: float) -> bool:
        """Whether the phone may still upload: not revoked and inside the link window."""
        return not self.revoked and now < self.link_expires_at

    def to_item(self, expiry_shards: int) -> dict[str, Any]:
        key = self.key
        return {
            **key,
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "userId": self.user_id,
            "sessionId": self.session_id,
            "mobileUploadId": self.mobile_upload_id,
            "tokenHash": self.token_hash,
            "retention": self.retention.value,
            "createdAt": self.created_at,
            "linkExpiresAt": self.link_expires_at,
            "expiresAt": self.expires_at,
            "maxFiles": self.max_files,
            "maxBytes": self.max_bytes,
            "fileCount": self.file_count,
            "uploadedBytes": self.uploaded_bytes,
            "revoked": self.revoked,
            "gsi1pk": keys.mobile_uploads_of_user(self.tenant_id, self.user_id),
            "gsi1sk": keys.by_time(self.created_at, self.mobile_upload_id),
            **expiry_attributes(key, self.expires_at, expiry_shards),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> MobileUploadRecord:
        return cls(
            tenant_id=item["tenantId"],
            user_id=item["userId"],
            session_id=item["sessionId"],
            mobile_upload_id=item["mobileUploadId"],
            token_hash=item["tokenHash"],
            retention=Retention(item["retention"]),
            created_at=int(item["createdAt"]),
            link_expires_at=int(item["linkExpiresAt"]),
            expires_at=int(item["expiresAt"]),
            max_files=int(item["maxFiles"]),
            max_bytes=int(item["maxBytes"]),
            file_count=int(item.get("fileCount", 0)),
            uploaded_bytes=int(item.get("uploadedBytes", 0)),
            revoked=bool(item.get("revoked", False)),
        )


def mobile_upload_token(tenant_id: str, mobile_upload_id: str, secret: str) -> str:
    """The phone's bearer token: `mu1.<tenant>.<mobileUploadId>.<secret>`."""
    return f"{TOKEN_PREFIX}{tenant_id}.{mobile_upload_id}.{secret}"
