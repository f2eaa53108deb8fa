"""Access patterns of mobile uploads: each one request."""

from __future__ import annotations

from imagestore import keys
from imagestore.data.pagination import Page, newest_first_in_gsi1
from imagestore.data.table import Table
from imagestore.models.files import FileRecord
from imagestore.models.mobile_uploads import MobileUploadRecord


class MobileUploadStore:
    """Mobile uploads of the single table, and the files that arrived through them."""

    def __init__(self, table: Table, expiry_shards: int) -> None:
        self.table = table
        self.expiry_shards = expiry_shards

    def add_mobile_upload(self, record: MobileUploadRecord) -> None:
        self.table.put(record.to_item(self.expiry_shards), condition="attribute_not_exists(pk)")

    def get_mobile_upload(self, tenant_id: str, mobile_upload_id: str) -> MobileUploadRecord | None:
        item = self.table.get(keys.mobile_upload_key(tenant_id, mobile_upload_id))
        return MobileUploadRecord.from_item(item) if item else None

    def list_mobile_uploads(self, tenant_id: str, user_id: str, *, limit: int, cursor: str | None) -> Page:
        """The user's mobile uploads, newest first (index gsi1, one Query a page)."""
        items, next_cursor = newest_first_in_gsi1(
            self.table,
            keys.mobile_uploads_of_user(tenant_id, user_id),
            keys.mobile_upload_pk(tenant_id, ""),
            limit=limit,
            cursor=cursor,
        )
        return Page(items=[MobileUploadRecord.from_item(i) for i in items], next_cursor=next_cursor)

    def reserve_slot(self, record: MobileUploadRecord, size_bytes: int, now: int) -> MobileUploadRecord:
        """Count one more file of size_bytes, atomically, only while the upload is open and under its
        limits. Raises ConditionFailed when it is not (the caller reads the item to tell why)."""
        item = self.table.update(
            record.key,
            "ADD fileCount :one, uploadedBytes :size",
            condition=(
                "attribute_exists(pk) AND revoked = :false AND linkExpiresAt > :now"
                " AND fileCount < maxFiles AND uploadedBytes <= :room"
            ),
            values={
                ":one": 1,
                ":size": size_bytes,
                ":false": False,
                ":now": now,
                ":room": record.max_bytes - size_bytes,
            },
        )
        assert item is not None
        return MobileUploadRecord.from_item(item)

    def revoke(self, record: MobileUploadRecord) -> None:
        """Mark revoked (repeating it changes nothing)."""
        self.table.update(
            record.key,
            "SET revoked = :true",
            condition="attribute_exists(pk)",
            values={":true": True},
            return_new=False,
        )

    def list_files(self, tenant_id: str, mobile_upload_id: str) -> list[FileRecord]:
        """The files that arrived through a mobile upload, oldest first (one Query on gsi1; the
        partition holds at most the upload's max_files files)."""
        items = self.table.query_all(
            index="gsi1",
            key_condition="gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
            values={":pk": keys.mobile_upload_files(tenant_id, mobile_upload_id), ":prefix": keys.FILE_PREFIX},
        )
        return [FileRecord.from_item(i) for i in items]
