"""Access patterns of files: named after what they do, each a bounded number of requests."""

from __future__ import annotations

from typing import Any

from imagestore import keys
from imagestore.data.pagination import Page, decode_cursor, encode_cursor
from imagestore.data.table import Table
from imagestore.errors import ConditionFailed, Conflict, NotFound
from imagestore.models.files import (
    FileRecord,
    FileStatus,
    PreviewRef,
    PreviewStatus,
    UploadRefusal,
    previews_item,
)


class FileStore:
    """Files of the single table."""

    def __init__(self, table: Table, expiry_shards: int) -> None:
        self.table = table
        self.expiry_shards = expiry_shards

    def add_pending_file(self, record: FileRecord, *, due_at: int | None = None) -> None:
        """Record a requested upload; the id is fresh, so an existing item is a bug, not a retry.

        due_at: when the sweep should first look at it (an upload never completed goes then);
        completing it files it under its retention instead."""
        item = record.to_item(self.expiry_shards)
        if due_at is not None and "xsk" in item:
            item["xsk"] = keys.expiry_sort(due_at, item["pk"], item["sk"])
        self.table.put(item, condition="attribute_not_exists(pk)")

    def get_file(self, tenant_id: str, user_id: str, file_id: str) -> FileRecord | None:
        item = self.table.get(keys.file_key(tenant_id, user_id, file_id))
        return FileRecord.from_item(item) if item else None

    def get_files(self, tenant_id: str, user_id: str, file_ids: list[str]) -> dict[str, FileRecord]:
        """The user's files among file_ids (BatchGetItem, 100 a call); missing ids are absent."""
        items = self.table.batch_get([keys.file_key(tenant_id, user_id, f) for f in file_ids])
        return {i["fileId"]: FileRecord.from_item(i) for i in items}

    def files_at(self, file_keys: list[dict[str, str]]) -> dict[tuple[str, str], FileRecord]:
        """The file items at these keys (any owner's: a copy names its original's files), by (pk, sk);
        BatchGetItem, 100 a call; missing ones are absent."""
        items = self.table.batch_get(file_keys)
        return {(i["pk"], i["sk"]): FileRecord.from_item(i) for i in items if i.get("entity") == FileRecord.ENTITY}

    def mark_available(self, record: FileRecord, *, width: int | None, height: int | None,
                       completed_at: int) -> FileRecord:
        """Pending -> available with its pixel size, without any earlier refusal; a repeat of the
        same completion is harmless.

        Its expiry-index entry stays where the request put it (due when an abandoned upload would be
        removed): an upload writes the index once on the request path, and the sweep that finds it
        due and available files it under its retention."""
        expression = "SET #status = :available, completedAt = :at"
        values: dict[str, Any] = {":available": FileStatus.AVAILABLE.value, ":at": completed_at,
                                  ":pending": FileStatus.PENDING.value}
        if width is not None and height is not None:
            expression += ", width = :w, height = :h"
            values.update({":w": width, ":h": height})
        expression += " REMOVE refusal"
        try:
            item = self.table.update(
                record.key, expression,
                condition="attribute_exists(pk) AND #status = :pending",
                names={"#status": "status"}, values=values,
            )
        except ConditionFailed:
            current = self.get_file(record.tenant_id, record.user_id, record.file_id)
            if current is None:
                raise NotFound(f"file {record.file_id} not found") from None
            return current
        assert item is not None
        return FileRecord.from_item(item)

    def record_refusal(self, record: FileRecord, refusal: UploadRefusal) -> bool:
        """Why the file's uploaded bytes were refused (replacing an earlier refusal): one UpdateItem,
        only while the file is pending (False when it is gone, available or being deleted)."""
        try:
            self.table.update(record.key, "SET refusal = :refusal",
                              condition="attribute_exists(pk) AND #status = :pending",
                              names={"#status": "status"},
                              values={":refusal": refusal.to_item(), ":pending": FileStatus.PENDING.value},
                              return_new=False)
        except ConditionFailed:
            return False
        return True

    def record_previews(self, record: FileRecord, *, width: int, height: int, taken_at: str | None,
                        previews: dict[str, PreviewRef]) -> bool:
        """The preview function's result: previews ready, the displayed size, the capture time. One
        UpdateItem, only while the file is available (False when it is gone or being deleted: the
        caller then deletes the previews it wrote)."""
        expression = "SET previewStatus = :ready, previews = :previews, width = :w, height = :h"
        values: dict[str, Any] = {":ready": PreviewStatus.READY.value, ":previews": previews_item(previews),
                                  ":w": width, ":h": height, ":available": FileStatus.AVAILABLE.value}
        if taken_at is not None:
            expression += ", takenAt = :taken"
            values[":taken"] = taken_at
        else:
            expression += " REMOVE takenAt"
        return self._update_available(record, expression, values)

    def mark_previews_failed(self, record: FileRecord, reason: str) -> bool:
        """Previews cannot be made from this file (not decodable, over the pixel limit); False when the
        file is gone or being deleted."""
        return self._update_available(
            record, "SET previewStatus = :failed, previewError = :reason",
            {":failed": PreviewStatus.FAILED.value, ":reason": reason[:500],
             ":available": FileStatus.AVAILABLE.value})

    def _update_available(self, record: FileRecord, expression: str, values: dict[str, Any]) -> bool:
        try:
            self.table.update(record.key, expression, condition="attribute_exists(pk) AND #status = :available",
                              names={"#status": "status"}, values=values, return_new=False)
        except ConditionFailed:
            return False
        return True

    def list_files(self, tenant_id: str, user_id: str, *, limit: int, cursor: str | None) -> Page:
        """The user's files, newest first, one Query per page."""
        pk = keys.tenant_user_pk(tenant_id, user_id)
        start = decode_cursor(cursor, exact={"pk": pk}, prefixes={"sk": keys.FILE_PREFIX})
        items, last = self.table.query_page(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            values={":pk": pk, ":prefix": keys.FILE_PREFIX},
            limit=limit, forward=False, start_key=start,
        )
        return Page(items=[FileRecord.from_item(i) for i in items], next_cursor=encode_cursor(last))

    def delete_unheld_file(self, record: FileRecord) -> None:
        """Delete the file's item unless something holds it (409 then)."""
        try:
            self.table.delete(record.key, condition="attribute_exists(pk) AND holdCount = :zero",
                              values={":zero": 0})
        except ConditionFailed:
            current = self.get_file(record.tenant_id, record.user_id, record.file_id)
            if current is None:
                raise NotFound(f"file {record.file_id} not found") from None
            raise Conflict(
                f"file {record.file_id} is held by {current.hold_count} project(s), cart item(s) or order(s)",
                details={"holdCount": current.hold_count},
            ) from None
