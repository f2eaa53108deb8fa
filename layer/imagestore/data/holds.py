"""Acquiring and releasing holds: the mechanism behind invariant 1 (nothing held is deleted).

A hold is a link item in the holder's partition plus +1 on the file's holdCount, written in one
transaction. Acquiring is conditioned on the file being available and alive (held, or its own
retention not over); the sweep deletes a file only on the opposite condition (holdCount = 0 and
expiresAt passed). The two conditions exclude each other, so whatever the interleaving either the
hold lands first and the sweep leaves the file, or the sweep wins and the hold is refused.

Releasing deletes the link (conditioned on it existing, so a repeated release changes nothing)
and decrements holdCount; it also puts the file back into the expiry index due *now*, so the next
sweep looks at it: deletes it if nothing holds it and its own retention is over, or files it
under its real expiry otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from imagestore import keys
from imagestore.data.table import Table
from imagestore.errors import TransactionConflict, Unprocessable
from imagestore.models.files import FileStatus
from imagestore.models.holds import FileRef

FILES_PER_TRANSACTION = 50  # two operations per file; TransactWriteItems takes 100


class HoldStore:
    """Holds of holders on files."""

    def __init__(self, table: Table, expiry_shards: int) -> None:
        self.table = table
        self.expiry_shards = expiry_shards

    def links(self, holder_pk: str) -> list[FileRef]:
        """Every file a holder keeps (one Query page per 1 MB of links)."""
        items = self.table.query_all(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            values={":pk": holder_pk, ":prefix": keys.LINK_PREFIX}, consistent=True,
        )
        return [FileRef.from_link_item(i) for i in items]

    def acquire(self, holder_pk: str, holder_kind: str, holder_id: str, refs: Sequence[FileRef],
                now: int) -> list[FileRef]:
        """Hold every file of refs, or none: on a file that is gone, roll back and raise 422.

        Returns the refs this call newly linked (a ref already linked to this holder is skipped).
        """
        acquired: list[FileRef] = []
        unavailable: list[str] = []
        for chunk in _chunks(refs, FILES_PER_TRANSACTION):
            pending = list(chunk)
            while pending:
                try:
                    self.table.transact_write(
                        [op for ref in pending for op in self._acquire_ops(holder_pk, holder_kind, holder_id, ref, now)]
                    )
                except TransactionConflict as conflict:
                    linked, gone = _failed_files(pending, conflict.reasons)
                    if not linked and not gone:
                        raise
                    unavailable.extend(ref.file_id for ref in gone)
                    pending = [r for r in pending if r not in linked and r not in gone]
                    continue
                acquired.extend(pending)
                pending = []
        if unavailable:
            self.release(holder_pk, acquired, now)
            raise Unprocessable(
                "some files are not available to this caller: " + ", ".join(sorted(unavailable)),
                details={"unavailableFileIds": sorted(unavailable)},
            )
        return acquired

    def release(self, holder_pk: str, refs: Iterable[FileRef], now: int) -> None:
        """Drop the holder's links to refs; links already gone are skipped."""
        for chunk in _chunks(list(refs), FILES_PER_TRANSACTION):
            pending = list(chunk)
            while pending:
                try:
                    self.table.transact_write([op for ref in pending for op in self._release_ops(holder_pk, ref, now)])
                except TransactionConflict as conflict:
                    missing = {pending[i // 2] for i, r in enumerate(conflict.reasons)
                               if r == "ConditionalCheckFailed"}
                    if not missing:
                        raise
                    pending = [r for r in pending if r not in missing]
                    continue
                pending = []

    def _acquire_ops(self, holder_pk: str, holder_kind: str, holder_id: str, ref: FileRef,
                     now: int) -> list[dict[str, Any]]:
        return [
            {"Put": {"Item": ref.to_link_item(holder_pk, holder_kind, holder_id),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {
                "Key": ref.file_key,
                "UpdateExpression": "ADD holdCount :one REMOVE xpk, xsk, #ttl",
                "ConditionExpression": "#status = :available AND (holdCount > :zero OR expiresAt > :now)",
                "ExpressionAttributeNames": {"#status": "status", "#ttl": "ttl"},
                "ExpressionAttributeValues": {":one": 1, ":zero": 0, ":now": now,
                                              ":available": FileStatus.AVAILABLE.value},
            }},
        ]

    def _release_ops(self, holder_pk: str, ref: FileRef, now: int) -> list[dict[str, Any]]:
        file_key = ref.file_key
        return [
            {"Delete": {"Key": {"pk": holder_pk, "sk": keys.link_sk(ref.file_id)},
                        "ConditionExpression": "attribute_exists(pk)"}},
            {"Update": {
                "Key": file_key,
                "UpdateExpression": "ADD holdCount :minus SET xpk = :xpk, xsk = :xsk",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {
                    ":minus": -1,
                    ":xpk": keys.expiry_shard(file_key["pk"], file_key["sk"], self.expiry_shards),
                    ":xsk": keys.expiry_sort(now, file_key["pk"], file_key["sk"]),
                },
            }},
        ]


def _failed_files(pending: Sequence[FileRef], reasons: Sequence[str]) -> tuple[set[FileRef], set[FileRef]]:
    """(already linked, gone) files of a cancelled acquire transaction, from its reasons in order."""
    linked: set[FileRef] = set()
    gone: set[FileRef] = set()
    for index, reason in enumerate(reasons):
        if reason != "ConditionalCheckFailed":
            continue
        ref = pending[index // 2]
        (linked if index % 2 == 0 else gone).add(ref)
    return linked, gone - linked


def _chunks(items: Sequence[FileRef], size: int) -> Iterable[Sequence[FileRef]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
