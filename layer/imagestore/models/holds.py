"""Hold links: a holder (project, cart item, order) keeps a file alive.

A link lives in the holder's partition (so a holder and all its files load with one Query) and
carries what readers need of the file (denormalized: files never change once available). The
file's holdCount counts its links; it is changed in the same transaction as the link.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from imagestore import keys
from imagestore.models.files import FileRecord, PreviewRef, PreviewStatus


class FileRef(BaseModel):
    """What a holder knows of a file it keeps."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    tenant_id: str
    owner_id: str
    file_id: str
    filename: str
    content_type: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    # The file's previews as they were when the holder took it (a manifest keeps them; hold links do
    # not): readers look up the file again while its previews are still pending.
    preview_status: PreviewStatus = PreviewStatus.PENDING
    previews: dict[str, PreviewRef] = {}
    taken_at: str | None = None
    completed_at: int | None = None  # when the file became available (previews follow within seconds)

    @property
    def file_key(self) -> dict[str, str]:
        return keys.file_key(self.tenant_id, self.owner_id, self.file_id)

    @property
    def object_key(self) -> str:
        return keys.object_key(self.tenant_id, self.owner_id, self.file_id)

    @classmethod
    def of(cls, record: FileRecord) -> FileRef:
        return cls(
            tenant_id=record.tenant_id,
            owner_id=record.user_id,
            file_id=record.file_id,
            filename=record.filename,
            content_type=record.content_type,
            size_bytes=record.size_bytes,
            width=record.width,
            height=record.height,
            preview_status=record.preview_status,
            previews=record.previews,
            taken_at=record.taken_at,
            completed_at=record.completed_at,
        )

    def with_previews_of(self, record: FileRecord) -> FileRef:
        """This reference with the file's current previews, displayed size and capture time."""
        return self.model_copy(
            update={
                "preview_status": record.preview_status,
                "previews": record.previews,
                "taken_at": record.taken_at,
                "width": record.width,
                "height": record.height,
            }
        )

    def to_link_item(self, holder_pk: str, holder_kind: str, holder_id: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": holder_pk,
            "sk": keys.link_sk(self.file_id),
            "entity": "hold",
            "holderKind": holder_kind,
            "holderId": holder_id,
            "tenantId": self.tenant_id,
            "ownerId": self.owner_id,
            "fileId": self.file_id,
            "filename": self.filename,
            "contentType": self.content_type,
            "sizeBytes": self.size_bytes,
        }
        if self.width is not None and self.height is not None:
            item.update(width=self.width, height=self.height)
        return item

    @classmethod
    def from_link_item(cls, item: dict[str, Any]) -> FileRef:
        return cls(
            tenant_id=item["tenantId"],
            owner_id=item["ownerId"],
            file_id=item["fileId"],
            filename=item["filename"],
            content_type=item["contentType"],
            size_bytes=int(item["sizeBytes"]),
            width=int(item["width"]) if "width" in item else None,
            height=int(item["height"]) if "height" in item else None,
        )
