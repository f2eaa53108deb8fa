"""What expires, and the removal of expired files: the table and bucket side of the scheduler.

The expiry index (xpk = EXP#nn, xsk = zero-padded epoch#pk#sk, KEYS_ONLY) is read by Query, one
shard at a time, never by Scan. Removing a file is three steps, each safe to repeat:
 1. a conditional update marks it `deleting` (the condition is the exact opposite of what a hold
    needs: holdCount = 0 and its retention over, or its session ended); acquiring a hold requires
    `available`, so once marked no hold can land, and if a hold landed first the mark is refused;
 2. S3 DeleteObjects, 1,000 keys a call;
 3. BatchWriteItem deletes, 25 a call, only of the items whose objects are gone.
A file whose object or item could not be deleted stays marked and due in the index: the next
sweep finishes it. Nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from imagestore import keys
from imagestore.data.partitions import remove_belongings
from imagestore.data.storage import ImageBucket
from imagestore.data.table import Item, Table
from imagestore.errors import ConditionFailed, Throttled
from imagestore.models.files import TTL_GRACE_SECONDS, FileRecord, FileStatus, Retention

INDEX = "expiry"
WRITE_BATCH = 25  # BatchWriteItem takes at most 25 requests a call


@dataclass(frozen=True)
class DueEntry:
    """One entry of the expiry index that is due."""

    pk: str
    sk: str
    xsk: str

    @property
    def key(self) -> dict[str, str]:
        return {"pk": self.pk, "sk": self.sk}

    @property
    def is_file(self) -> bool:
        return self.sk.startswith(keys.FILE_PREFIX) and keys.parse_tenant_user_pk(self.pk) is not None

    @property
    def is_partition_head(self) -> bool:
        """The META item of a partition (a project, cart item, order, share token, mobile upload)."""
        return self.sk == keys.META


@dataclass(frozen=True)
class DocumentOwner:
    """An item that names a document object (imagestore.keys.document_owner_key), as reconciliation
    reads it: the objects it references now (none: its document is inline). A project references
    its version's manifest, and while a save runs, the manifest that save is writing."""

    document_keys: frozenset[str]

    @property
    def document_key(self) -> str | None:
        """One referenced object (the only one, for every owner but a project being saved)."""
        return next(iter(sorted(self.document_keys)), None)


@dataclass
class Removal:
    """What one removal achieved: files whose bytes and item are gone, and files left for the next run."""

    removed: list[FileRecord] = field(default_factory=list)
    failed: list[FileRecord] = field(default_factory=list)


class ExpiryStore:
    """The expiry index, and the removal of files and plain expiring items."""

    def __init__(self, table: Table, bucket: ImageBucket, shards: int) -> None:
        self.table = table
        self.bucket = bucket
        self.shards = shards

    # --- the index ---------------------------------------------------------------------------

    def due(
        self, shard: int, now: int, *, limit: int, start: Mapping[str, Any] | None = None
    ) -> tuple[list[DueEntry], Item | None]:
        """One Query page of a shard's entries due at now (oldest first) and where the next starts."""
        items, last = self.table.query_page(
            index=INDEX,
            key_condition="xpk = :xpk AND xsk < :bound",
            values={":xpk": keys.expiry_shard_pk(shard), ":bound": keys.expiry_upper_bound(now)},
            limit=limit,
            start_key=start,
        )
        return [DueEntry(pk=i["pk"], sk=i["sk"], xsk=i["xsk"]) for i in items], last

    def read_files(self, file_keys: Sequence[Mapping[str, str]]) -> list[FileRecord]:
        """The file items that still exist among file_keys (BatchGetItem, 100 a call, consistent)."""
        return [FileRecord.from_item(i) for i in self.table.batch_get(file_keys) if i.get("entity") == "file"]

    def read_item(self, key: Mapping[str, str]) -> Item | None:
        return self.table.get(key)

    def refile(self, record: FileRecord, due_at: int) -> bool:
        """Put an unheld file back in the index under due_at, if it has not changed since it was read."""
        key = record.key
        return self._update_file(
            record,
            "SET xpk = :xpk, xsk = :xsk, #ttl = :ttl",
            "holdCount = :zero AND expiresAt = :expires AND #status = :status",
            {
                ":xpk": keys.expiry_shard(key["pk"], key["sk"], self.shards),
                ":xsk": keys.expiry_sort(due_at, key["pk"], key["sk"]),
                ":ttl": record.expires_at + TTL_GRACE_SECONDS,
                ":zero": 0,
                ":expires": record.expires_at,
                ":status": record.status.value,
            },
        )

    def unindex_held(self, record: FileRecord) -> bool:
        """Take a held file out of the index (releasing its last hold puts it back)."""
        return self._update_file(record, "REMOVE xpk, xsk, #ttl", "holdCount > :zero", {":zero": 0})

    # --- marking files deleting --------------------------------------------------------------

    def mark_expired(self, record: FileRecord, now: int) -> bool:
        """Mark a file deleting if nothing holds it and its own retention is over at now."""
        return self._mark(
            record, "holdCount = :zero AND expiresAt <= :now AND #status <> :deleting", {":zero": 0, ":now": now}
        )

    def mark_abandoned(self, record: FileRecord, created_before: int) -> bool:
        """Mark deleting a requested upload that is still pending and was requested before created_before."""
        return self._mark(
            record,
            "holdCount = :zero AND #status = :pending AND createdAt <= :before",
            {":zero": 0, ":pending": FileStatus.PENDING.value, ":before": created_before},
        )

    def mark_logged_out(self, record: FileRecord, session_id: str, now: int) -> bool:
        """Mark deleting a session-retention file of an ended session that nothing holds: its retention
        ends now, and it is due now (if this run dies before the removal, the next sweep finishes it)."""
        key = record.key
        return self._mark(
            record,
            "holdCount = :zero AND sessionId = :sid AND retention = :session AND #status <> :deleting",
            {":zero": 0, ":sid": session_id, ":session": Retention.SESSION.value},
            extra="expiresAt = :now, xpk = :xpk, xsk = :xsk",
            extra_values={
                ":now": now,
                ":xpk": keys.expiry_shard(key["pk"], key["sk"], self.shards),
                ":xsk": keys.expiry_sort(now, key["pk"], key["sk"]),
            },
        )

    def end_session_retention(self, record: FileRecord, session_id: str, now: int) -> bool:
        """End the own retention of a session-retention file that something holds: it lives as long
        as its holders, and goes with the sweep after the last one lets go."""
        return self._update_file(
            record,
            "SET expiresAt = :now",
            "sessionId = :sid AND retention = :session AND expiresAt > :now AND #status <> :deleting",
            {
                ":now": now,
                ":sid": session_id,
                ":session": Retention.SESSION.value,
                ":deleting": FileStatus.DELETING.value,
            },
        )

    def _mark(
        self,
        record: FileRecord,
        condition: str,
        values: dict[str, Any],
        *,
        extra: str = "",
        extra_values: Mapping[str, Any] | None = None,
    ) -> bool:
        expression = "SET #status = :deleting" + (f", {extra}" if extra else "")
        return self._update_file(
            record, expression, condition, {**values, ":deleting": FileStatus.DELETING.value, **(extra_values or {})}
        )

    def _update_file(self, record: FileRecord, expression: str, condition: str, values: dict[str, Any]) -> bool:
        names = {n: n[1:] for n in ("#status", "#ttl") if n in expression or n in condition}
        try:
            self.table.update(
                record.key,
                expression,
                condition=f"attribute_exists(pk) AND {condition}",
                names=names or None,
                values=values,
                return_new=False,
            )
        except ConditionFailed:
            return False
        return True

    # --- removing marked files ---------------------------------------------------------------

    def remove_files(self, records: Sequence[FileRecord]) -> Removal:
        """Delete the objects of files marked deleting, then the items of those whose object is gone."""
        removal = Removal()
        if not records:
            return removal
        # The file's bytes, its upload's staging object (a POST that was never completed, or repeated)
        # and its previews.
        result = self.bucket.delete_objects(k for r in records for k in keys.image_object_keys(r.object_key))
        for record in records:
            if record.multipart_upload_id is not None and record.completed_at is None:
                self._abort_upload(record)
        failed_keys = set(result.failed)
        failed = [r for r in records if set(keys.image_object_keys(r.object_key)) & failed_keys]
        gone = [r for r in records if r not in failed]
        removal.failed.extend(failed)
        for start in range(0, len(gone), WRITE_BATCH):
            chunk = gone[start : start + WRITE_BATCH]
            try:
                self.table.batch_write(deletes=[r.key for r in chunk])
            except Throttled:
                removal.failed.extend(chunk)
                continue
            removal.removed.extend(chunk)
        return removal

    def _abort_upload(self, record: FileRecord) -> None:
        """Abort a multipart upload that was never completed, so its parts cost nothing; one that fails
        here is aborted by the bucket's lifecycle rule (AbortIncompleteMultipartUpload, a day after it began)."""
        assert record.multipart_upload_id is not None
        try:
            self.bucket.abort_multipart(keys.staging_key(record.object_key), record.multipart_upload_id)
        except (Throttled, ClientError):
            return

    # --- logout --------------------------------------------------------------------------------

    def session_files(
        self, tenant_id: str, user_id: str, session_id: str, now: int, *, start: Mapping[str, Any] | None = None
    ) -> tuple[list[FileRecord], Item | None]:
        """One Query page of the user's partition: the session's files whose session retention has not
        ended yet (held or not), and those already marked deleting (a logout that did not finish)."""
        items, last = self.table.query_page(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            filter_expression=(
                "sessionId = :sid AND ((retention = :session AND expiresAt > :now) OR #status = :deleting)"
            ),
            names={"#status": "status"},
            values={
                ":pk": keys.tenant_user_pk(tenant_id, user_id),
                ":prefix": keys.FILE_PREFIX,
                ":sid": session_id,
                ":session": Retention.SESSION.value,
                ":now": now,
                ":deleting": FileStatus.DELETING.value,
            },
            start_key=start,
            consistent=True,
        )
        return [FileRecord.from_item(i) for i in items], last

    # --- plain expiring items ------------------------------------------------------------------

    def remove_expired_item(self, key: Mapping[str, str], now: int) -> bool:
        """Delete an expired item that holds nothing, with the objects and items that go with it;
        False when it is not (or no longer) expired."""
        item = self.table.get(key)
        if item is None:
            return True
        if int(item.get("expiresAt", now + 1)) > now:
            return False
        try:
            old = self.table.delete(key, condition="expiresAt <= :now", values={":now": now}, return_old=True)
        except ConditionFailed:
            return self.table.get(key) is None
        self.remove_belongings([old or item])
        return True

    def remove_belongings(self, items: Iterable[Mapping[str, Any]]) -> None:
        """The S3 objects (documentKey) and the companion items (companionKeys) of items that are gone."""
        remove_belongings(self.table, self.bucket, items)

    # --- orphaned objects ----------------------------------------------------------------------

    def existing_file_keys(self, file_keys: Sequence[Mapping[str, str]]) -> set[tuple[str, str]]:
        """(pk, sk) of the items that exist among file_keys (BatchGetItem, 100 a call)."""
        return {(i["pk"], i["sk"]) for i in self.table.batch_get(file_keys)}

    def document_owners(self, owner_keys: Sequence[Mapping[str, str]]) -> dict[tuple[str, str], DocumentOwner]:
        """(pk, sk) -> what it references, for the items that exist among owner_keys (BatchGetItem,
        100 a call, consistent); a key without an entry has no item."""
        return {
            (i["pk"], i["sk"]): DocumentOwner(
                document_keys=frozenset(
                    str(i[name]) for name in ("documentKey", "manifestKey", "lockManifestKey") if i.get(name)
                )
            )
            for i in self.table.batch_get(owner_keys)
        }

    def reconcile_token(self) -> str | None:
        """Where the bucket's reconciliation stopped last time (None: start from the beginning)."""
        item = self.table.get(keys.reconcile_state_key())
        return str(item["continuationToken"]) if item and item.get("continuationToken") else None

    def save_reconcile_token(self, token: str | None, now: int) -> None:
        self.table.put(
            {**keys.reconcile_state_key(), "entity": "reconcile_state", "continuationToken": token, "updatedAt": now}
        )
