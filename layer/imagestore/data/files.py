"""Access patterns of files: named after what they do, each a bounded number of requests."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from imagestore import keys
from imagestore.data.pagination import Page, decode_cursor, encode_cursor
from imagestore.data.table import Table
from imagestore.data.webhooks import event_log_items
from imagestore.errors import ConditionFailed, Conflict, NotFound
from imagestore.models.files import (
    TTL_GRACE_SECONDS,
    FileRecord,
    FileStatus,
    PreviewRef,
    PreviewStatus,
    UploadRefusal,
    previews_item,
    sha256_hex,
)
from imagestore.models.projects import MAX_PREVIEW_FAILED
from imagestore.models.webhooks import WebhookEvent

FILE_DIGEST_ENTITY = "fileDigest"


class FileStore:
    """Files of the single table."""

    def __init__(self, table: Table, expiry_shards: int) -> None:
        self.table = table
        self.expiry_shards = expiry_shards

    def add_pending_file(self, record: FileRecord, *, due_at: int | None = None) -> None:
        """Record a requested upload; the id is fresh, so an existing item is a bug, not a retry.

        due_at: when the sweep should first look at it (imagestore.models.files.abandoned_due: an
        upload never completed goes then; for a session upload that is its retention's end)."""
        item = record.to_item(self.expiry_shards)
        if due_at is not None and "xsk" in item:
            item["xsk"] = keys.expiry_sort(due_at, item["pk"], item["sk"])
        self.table.put(item, condition="attribute_not_exists(pk)")

    def add_pending_files(self, records: list[tuple[FileRecord, int]]) -> None:
        """Record many requested uploads at once (BatchWriteItem, 25 a call), each with its due_at as
        add_pending_file; their ids are fresh, so no condition is needed."""
        items = []
        for record, due_at in records:
            item = record.to_item(self.expiry_shards)
            if "xsk" in item:
                item["xsk"] = keys.expiry_sort(due_at, item["pk"], item["sk"])
            items.append(item)
        self.table.batch_write(puts=items)

    def remember_digest(self, record: FileRecord) -> None:
        """Point the user's SHA-256 of these bytes at this available file (the latest wins). The pointer
        expires with DynamoDB TTL a grace period after the file would; a pointer to a file that is gone
        meanwhile is ignored by files_of_digests."""
        if record.sha256 is None:
            return
        self.table.put(
            {
                **keys.file_digest_key(record.tenant_id, record.user_id, sha256_hex(record.sha256)),
                "entity": FILE_DIGEST_ENTITY,
                "fileId": record.file_id,
                "ttl": record.expires_at + TTL_GRACE_SECONDS,
            }
        )

    def files_of_digests(self, tenant_id: str, user_id: str, digests: list[str]) -> dict[str, FileRecord]:
        """The user's files whose bytes have these SHA-256s (base64), as far as the pointers know
        (two BatchGetItems: the pointers, then their files); digests without a file are absent."""
        by_hex = {sha256_hex(d): d for d in digests}
        pointers = self.table.batch_get([keys.file_digest_key(tenant_id, user_id, h) for h in by_hex])
        file_of_digest = {
            by_hex[p["sk"].removeprefix("SHA256#")]: p["fileId"]
            for p in pointers
            if p["sk"].removeprefix("SHA256#") in by_hex
        }
        if not file_of_digest:
            return {}
        found = self.get_files(tenant_id, user_id, list(set(file_of_digest.values())))
        return {
            digest: found[file_id]
            for digest, file_id in file_of_digest.items()
            if file_id in found and found[file_id].sha256 == digest
        }

    def adopt_duplicate(self, record: FileRecord, *, session_id: str, expires_at: int, now: int) -> FileRecord | None:
        """An available file answered for a new upload of the same bytes: it joins the caller's session
        and lives at least until expires_at (never shorter). One conditional UpdateItem; None when the
        file changed meanwhile (deleted, expired, held or released): the caller uploads instead."""
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":sid": session_id,
            ":exp": max(expires_at, record.expires_at),
            ":available": FileStatus.AVAILABLE.value,
            ":now": now,
            ":holds": record.hold_count,
        }
        expression = "SET sessionId = :sid, expiresAt = :exp"
        if record.hold_count == 0:
            # Its TTL backstop stays after its own expiry (invariant 7).
            expression += ", #ttl = :ttl"
            names["#ttl"] = "ttl"
            values[":ttl"] = values[":exp"] + TTL_GRACE_SECONDS
        try:
            item = self.table.update(
                record.key,
                expression,
                condition="attribute_exists(pk) AND #status = :available AND holdCount = :holds "
                "AND (expiresAt > :now OR holdCount > :zero)",
                names=names,
                values={**values, ":zero": 0},
            )
        except ConditionFailed:
            return None
        assert item is not None
        return FileRecord.from_item(item)

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

    def mark_available(
        self,
        record: FileRecord,
        *,
        width: int | None,
        height: int | None,
        completed_at: int,
        sha256: str | None = None,
        events: Sequence[WebhookEvent] = (),
    ) -> FileRecord:
        """Pending -> available with its pixel size, without any earlier refusal; a repeat of the
        same completion is harmless. sha256: the bytes' SHA-256 computed by S3, kept when the client
        declared none (the file can then answer a duplicate, remember_digest).

        Its expiry-index entry stays where the request put it (abandoned_due: a session upload's
        retention end, so its entry is never moved; an extended upload's is refiled by the sweep)."""
        expression = "SET #status = :available, completedAt = :at"
        values: dict[str, Any] = {
            ":available": FileStatus.AVAILABLE.value,
            ":at": completed_at,
            ":pending": FileStatus.PENDING.value,
        }
        if width is not None and height is not None:
            expression += ", width = :w, height = :h"
            values.update({":w": width, ":h": height})
        if sha256 is not None and record.sha256 is None:
            expression += ", sha256 = :sha256"
            values[":sha256"] = sha256
        expression += " REMOVE refusal"
        try:
            if events:  # with its webhook events in the same transaction (the event log is the outbox)
                self.table.update_with_puts(
                    record.key,
                    expression,
                    event_log_items(events, completed_at),
                    condition="attribute_exists(pk) AND #status = :pending",
                    names={"#status": "status"},
                    values=values,
                )
                item = self.table.get(record.key)
            else:
                item = self.table.update(
                    record.key,
                    expression,
                    condition="attribute_exists(pk) AND #status = :pending",
                    names={"#status": "status"},
                    values=values,
                )
        except ConditionFailed:
            current = self.get_file(record.tenant_id, record.user_id, record.file_id)
            if current is None:
                raise NotFound(f"file {record.file_id} not found") from None
            return current
        assert item is not None
        return FileRecord.from_item(item)

    def record_refusal(
        self, record: FileRecord, refusal: UploadRefusal, events: Sequence[WebhookEvent] = (), at: int = 0
    ) -> bool:
        """Why the file's uploaded bytes were refused (replacing an earlier refusal): one UpdateItem (a
        transaction with its webhook events, logged at `at`), only while the file is pending (False when
        it is gone, available or being deleted)."""
        try:
            self.table.update_with_puts(
                record.key,
                "SET refusal = :refusal",
                event_log_items(events, at),
                condition="attribute_exists(pk) AND #status = :pending",
                names={"#status": "status"},
                values={":refusal": refusal.to_item(), ":pending": FileStatus.PENDING.value},
            )
        except ConditionFailed:
            return False
        return True

    def record_previews(
        self,
        record: FileRecord,
        *,
        width: int,
        height: int,
        taken_at: str | None,
        previews: dict[str, PreviewRef],
        events: Sequence[WebhookEvent] = (),
        at: int = 0,
    ) -> bool:
        """The preview function's result: previews ready, the displayed size, the capture time. One
        UpdateItem, only while the file is available (False when it is gone or being deleted: the
        caller then deletes the previews it wrote)."""
        expression = "SET previewStatus = :ready, previews = :previews, width = :w, height = :h"
        values: dict[str, Any] = {
            ":ready": PreviewStatus.READY.value,
            ":previews": previews_item(previews),
            ":w": width,
            ":h": height,
            ":available": FileStatus.AVAILABLE.value,
        }
        if taken_at is not None:
            expression += ", takenAt = :taken"
            values[":taken"] = taken_at
        else:
            expression += " REMOVE takenAt"
        return self._update_available(record, expression, values, event_log_items(events, at))

    def mark_previews_failed(self, record: FileRecord, reason: str) -> list[str] | None:
        """Previews cannot be made from this file (not decodable, over the pixel limit). Every project
        that holds it at that moment (its `H#` marks, read in the same write) shows it failed from its
        META (previewFailed: one small write per holder, only on failure; views read no file), and a
        project that acquires it later sees the failure in its acquire's own write
        (imagestore.data.holds.Acquisition.failed): between the two, every holder learns it. The ids of
        those projects; None when the file is gone or being deleted."""
        try:
            item = self.table.update(
                record.key,
                "SET previewStatus = :failed, previewError = :reason",
                condition="attribute_exists(pk) AND #status = :available",
                names={"#status": "status"},
                values={
                    ":failed": PreviewStatus.FAILED.value,
                    ":reason": reason[:500],
                    ":available": FileStatus.AVAILABLE.value,
                },
            )
        except ConditionFailed:
            return None
        holders = [
            project_id
            for name, mark in (item or {}).items()
            if (project_id := keys.project_of_hold_attribute(name)) is not None and int(mark) > 0
        ]
        for project_id in holders:
            with contextlib.suppress(ConditionFailed):  # gone meanwhile, or its list is full
                self.table.update(
                    keys.project_key(record.tenant_id, project_id),
                    "ADD previewFailed :failed",
                    condition="entity = :project AND "
                    "(attribute_not_exists(previewFailed) OR size(previewFailed) < :max)",
                    values={":failed": {record.file_id}, ":project": "project", ":max": MAX_PREVIEW_FAILED},
                    return_new=False,
                )
        return holders

    def _update_available(
        self, record: FileRecord, expression: str, values: dict[str, Any], puts: Sequence[dict[str, Any]] = ()
    ) -> bool:
        try:
            self.table.update_with_puts(
                record.key,
                expression,
                puts,
                condition="attribute_exists(pk) AND #status = :available",
                names={"#status": "status"},
                values=values,
            )
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
            limit=limit,
            forward=False,
            start_key=start,
        )
        return Page(items=[FileRecord.from_item(i) for i in items], next_cursor=encode_cursor(last))

    def record_part_checksums(self, record: FileRecord, sums: dict[int, str]) -> None:
        """The sha256 each part of a multipart upload is signed with (one UpdateItem, while pending)."""
        names: dict[str, str] = {"#status": "status"}
        values: dict[str, Any] = {":pending": FileStatus.PENDING.value}
        sets = []
        for i, (number, digest) in enumerate(sums.items()):
            names[f"#p{i}"] = str(number)
            values[f":s{i}"] = digest
            sets.append(f"partSha256.#p{i} = :s{i}")
        try:
            self.table.update(
                record.key,
                "SET " + ", ".join(sets),
                condition="attribute_exists(pk) AND #status = :pending AND attribute_exists(partSha256)",
                names=names,
                values=values,
                return_new=False,
            )
        except ConditionFailed:
            raise Conflict(f"file {record.file_id} is no longer pending") from None

    def delete_pending_file(self, record: FileRecord) -> None:
        """Forget a pending upload (aborted by its client); 409 once it is no longer pending."""
        try:
            self.table.delete(
                record.key,
                condition="attribute_exists(pk) AND #status = :pending",
                names={"#status": "status"},
                values={":pending": FileStatus.PENDING.value},
            )
        except ConditionFailed:
            if self.get_file(record.tenant_id, record.user_id, record.file_id) is None:
                raise NotFound(f"file {record.file_id} not found") from None
            raise Conflict(f"file {record.file_id} is no longer pending") from None

    def delete_unheld_file(self, record: FileRecord) -> None:
        """Delete the file's item unless something holds it (409 then)."""
        try:
            self.table.delete(record.key, condition="attribute_exists(pk) AND holdCount = :zero", values={":zero": 0})
        except ConditionFailed:
            current = self.get_file(record.tenant_id, record.user_id, record.file_id)
            if current is None:
                raise NotFound(f"file {record.file_id} not found") from None
            raise Conflict(
                f"file {record.file_id} is held by {current.hold_count} project(s), cart item(s) or order(s)",
                details={"holdCount": current.hold_count},
            ) from None
