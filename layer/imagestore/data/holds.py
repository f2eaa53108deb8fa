"""Holds: how a project keeps the files it uses, and why no held file is ever deleted.

A project's hold on a file is recorded on the file's own item, in the attribute
`H#{projectId}` (keys.project_hold_attribute), together with the file's holdCount:
  acquire  SET H#p = epoch, holdCount + 1, out of the expiry index    only if the file is available and
           alive (held, or its own retention not over) and H#p is absent or released at an epoch <= ours
  release  REMOVE H#p (or SET H#p = -epoch: a tombstone, below), holdCount - 1, due now in the expiry index
           only if H#p is held at an epoch <= ours
The sweep deletes a file only when holdCount = 0 and its retention is over (imagestore.data.expiry),
the exact opposite of what acquiring needs: a hold and a deletion never both land.

Each hold change is one UpdateItem of one file (a write unit for a file item under 1 KB), not a
transaction: what makes a save's changes safe is the project's lock (imagestore.data.project_holds).
Only the holder of the lock changes the project's holds, with the lock's epoch, and epochs only grow:
a save that lost its lock to a takeover (it stalled past the lease) is fenced off on every file the
takeover touched (its late acquire finds H#p released at a newer epoch, its late release finds H#p
acquired at a newer epoch), and LockLost stops it. Every change at epoch e leaves H#p at +e or -e:
an acquire that finds the file held at an older epoch (by a save that died) marks it +e; a fencing
release (release(fence=True): a takeover's, for every file the dead save's manifest names) marks a
file the dead save had not reached yet, or had released at an older epoch, -e without touching
holdCount. Acquire and release are idempotent per epoch, so a takeover simply redoes what a dead save
may have done.

File items do not grow with the projects that ever held them: a release removes H#p unless the
project's lock was ever taken over (META `takenOver`, set in the takeover's own write). Until then no
save of an older epoch can still be running (every earlier lock holder unlocked after its last hold
change), so no late acquire needs the mark to fail; after a takeover, the project's releases leave
H#p = -epoch (a tombstone) as the fencing above requires. Fences and a save's release of its own
acquisitions after it lost its lock always leave tombstones.

Legacy (schema 1) holders keep hold *links* in their partition (one item per file, +1 on holdCount
in the same transaction); only their release is still here (release_links), for cart items and
orders made before holds v2 and for projects not yet upgraded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from imagestore import keys
from imagestore.data.table import Table
from imagestore.errors import ConditionFailed, TransactionConflict
from imagestore.models.files import TTL_GRACE_SECONDS, FileStatus, PreviewStatus
from imagestore.models.holds import FileRef

LINKS_PER_TRANSACTION = 50  # legacy links: two operations per file; TransactWriteItems takes 100
# File updates in flight at once (the latency of a create or save that changes many images): the pace
# below, not this, keeps the partition within its budget, so a wave of 400 goes out 32 at a time (the
# client's pool has 50 connections; Lambda's threads wait on the network, not the CPU).
IN_FLIGHT = 32
# A project's files share their owner's partition (1,000 WCU/s): hold changes write at most this many
# units a second into it from one execution environment (one request at a time in Lambda), under half
# of it, so that a 2,000-image book never throttles its owner. An acquire writes one unit, a release up
# to two (the release, then the TTL back when nothing holds the file any more).
PARTITION_UNITS_PER_SECOND = 400
ACQUIRE_UNITS, RELEASE_UNITS = 1, 2


class Pace:
    """Write units per second into one partition, over every call that shares it (a token window of
    one second): take(units) waits for the next second when this one is spent."""

    def __init__(
        self,
        units_per_second: int = PARTITION_UNITS_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.units_per_second = units_per_second
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._window = -1.0
        self._used = 0

    def take(self, units: int) -> None:
        with self._lock:
            now = self.clock()
            if now - self._window >= 1.0:
                self._window, self._used = now, 0
            elif self._used + units > self.units_per_second:
                self.sleep(max(0.0, self._window + 1.0 - now))
                self._window, self._used = self.clock(), 0
            self._used += units

    def batch(self, units_each: int) -> int:
        """How many calls of units_each fit in one second."""
        return max(1, self.units_per_second // units_each)


T = TypeVar("T")
R = TypeVar("R")


class LockLost(Exception):
    """A newer lock holder has taken over the project's holds: this save must stop."""


@dataclass
class Acquisition:
    """What acquiring a set of files achieved."""

    held: list[str] = field(default_factory=list)  # held by the project now (newly or already)
    gone: list[str] = field(default_factory=list)  # not available: deleted, expired or never completed
    # Held, and their previews failed (read in the acquire's own write, at no cost): the project records
    # them (META previewFailed), as the previews function does for the holders it finds on the file.
    failed: list[str] = field(default_factory=list)


class HoldStore:
    """Holds of projects on files, and the release of legacy hold links."""

    def __init__(self, table: Table, expiry_shards: int, pace: Pace | None = None) -> None:
        self.table = table
        self.expiry_shards = expiry_shards
        self.pace = pace or Pace()

    # --- holds v2 ------------------------------------------------------------------------------

    def acquire(
        self,
        tenant_id: str,
        owner_id: str,
        project_id: str,
        epoch: int,
        file_ids: Sequence[str],
        now: int,
        *,
        owners: Mapping[str, str] | None = None,
    ) -> Acquisition:
        """Hold every file of file_ids (owner_id's, or the user owners names for it: a member's upload)
        for the project at epoch; LockLost if fenced off."""
        outcome = Acquisition()
        owners = owners or {}
        held_each = _each(
            lambda f: self._acquire_one(tenant_id, owners.get(f, owner_id), project_id, epoch, f, now),
            file_ids,
            self.pace,
            ACQUIRE_UNITS,
        )
        for file_id, (held, failed) in zip(file_ids, held_each, strict=True):
            (outcome.held if held else outcome.gone).append(file_id)
            if held and failed:
                outcome.failed.append(file_id)
        return outcome

    def release(
        self,
        tenant_id: str,
        owner_id: str,
        project_id: str,
        epoch: int,
        file_ids: Iterable[str],
        now: int,
        *,
        fence: bool = False,
        own: bool = False,
        owners: Mapping[str, str] | None = None,
        tombstone: bool = False,
    ) -> None:
        """Drop the project's holds on file_ids at epoch (already released: skipped); LockLost if fenced off.
        A file's owner is owner_id unless owners names another (a member's upload).

        tombstone: leave H#p = -epoch on the file (a project whose lock was ever taken over: a stalled
        save of an older epoch may still try to acquire it); otherwise H#p is removed, so that a file
        item does not grow with the projects that ever held it (see the module doc).
        fence: also mark at -epoch every file that is not held (no H#p yet, or released at an older
        epoch), so that a stalled lock holder of an older epoch can no longer acquire it (implies
        tombstone).
        own: a save that lost its lock lets go of what it acquired itself: a file marked at a newer
        epoch is the new lock holder's and is skipped (no LockLost; implies tombstone)."""
        owners = owners or {}
        tombstone = tombstone or fence or own
        _each(
            lambda f: self._release_one(
                tenant_id,
                owners.get(f, owner_id),
                project_id,
                epoch,
                f,
                now,
                fence=fence,
                own=own,
                tombstone=tombstone,
            ),
            list(file_ids),
            self.pace,
            RELEASE_UNITS,
        )

    def _acquire_one(
        self, tenant_id: str, owner_id: str, project_id: str, epoch: int, file_id: str, now: int
    ) -> tuple[bool, bool]:
        """(held by the project now, its previews failed)."""
        key = keys.file_key(tenant_id, owner_id, file_id)
        names = {"#h": keys.project_hold_attribute(project_id), "#status": "status", "#ttl": "ttl"}
        try:
            acquired = self.table.update(
                key,
                "SET #h = :e ADD holdCount :one REMOVE xpk, xsk, #ttl",
                condition=(
                    "attribute_exists(pk) AND #status = :available AND (holdCount > :zero OR expiresAt > :now)"
                    " AND (attribute_not_exists(#h) OR (#h < :zero AND #h >= :neg))"
                ),
                names=names,
                values={
                    ":e": epoch,
                    ":neg": -epoch,
                    ":one": 1,
                    ":zero": 0,
                    ":now": now,
                    ":available": FileStatus.AVAILABLE.value,
                },
            )
            return True, _previews_failed(acquired)
        except ConditionFailed:
            item = self.table.get(key)
        mark = int(item.get(names["#h"], 0)) if item else 0
        if mark > epoch or -mark > epoch:
            raise LockLost(f"hold of project {project_id} on file {file_id} was changed at a newer epoch")
        if 0 < mark < epoch:
            # Held at an older epoch by a save that died (or stalled): the hold is ours now, so that the
            # stalled save can no longer release it (holdCount unchanged: it is the same hold).
            try:
                self.table.update(
                    key,
                    "SET #h = :e",
                    condition="#h = :old",
                    names={"#h": names["#h"]},
                    values={":e": epoch, ":old": mark},
                    return_new=False,
                )
            except ConditionFailed:
                return self._acquire_one(tenant_id, owner_id, project_id, epoch, file_id, now)
        # held already (by an earlier save of this project); otherwise the file is gone
        return mark > 0, mark > 0 and _previews_failed(item)

    def _release_one(
        self,
        tenant_id: str,
        owner_id: str,
        project_id: str,
        epoch: int,
        file_id: str,
        now: int,
        *,
        fence: bool = False,
        own: bool = False,
        tombstone: bool = True,
    ) -> None:
        key = keys.file_key(tenant_id, owner_id, file_id)
        attribute = keys.project_hold_attribute(project_id)
        mark_values = {":neg": -epoch} if tombstone else {}
        for _ in range(3):  # a fence that races a stalled save's acquire: release what it acquired, once more
            try:
                item = self.table.update(
                    key,
                    ("SET #h = :neg, " if tombstone else "REMOVE #h SET ")
                    + "xpk = :xpk, xsk = :xsk ADD holdCount :minus",
                    condition="#h > :zero AND #h <= :e",
                    names={"#h": attribute},
                    values={
                        **mark_values,
                        ":e": epoch,
                        ":zero": 0,
                        ":minus": -1,
                        ":xpk": keys.expiry_shard(key["pk"], key["sk"], self.expiry_shards),
                        ":xsk": keys.expiry_sort(now, key["pk"], key["sk"]),
                    },
                )
                break
            except ConditionFailed:
                current = self.table.get(key)
            mark = int(current.get(attribute, 0)) if current else 0
            if mark > epoch or -mark > epoch:
                if own:
                    return  # the new lock holder's now
                raise LockLost(f"hold of project {project_id} on file {file_id} was changed at a newer epoch")
            if not fence or current is None or mark == -epoch:
                return  # not held (released already, or never acquired), or gone
            try:
                self.table.update(
                    key,
                    "SET #h = :neg",
                    condition="attribute_exists(pk) AND (attribute_not_exists(#h) OR (#h <= :zero AND #h > :neg))",
                    names={"#h": attribute},
                    values={":neg": -epoch, ":zero": 0},
                    return_new=False,
                )
                return
            except ConditionFailed:
                continue  # acquired meanwhile (by the stalled save), or gone: look again
        else:
            raise LockLost(f"hold of project {project_id} on file {file_id} keeps changing")
        if item is not None and int(item.get("holdCount", 0)) == 0:
            # Nothing holds it any more: the TTL backstop covers it again (acquiring removed its TTL).
            ttl = max(int(item.get("expiresAt", now)), now) + TTL_GRACE_SECONDS
            with contextlib.suppress(ConditionFailed):  # held again meanwhile: its new holder keeps it
                self.table.update(
                    key,
                    "SET #ttl = :ttl",
                    condition="holdCount = :zero AND attribute_exists(xsk)",
                    names={"#ttl": "ttl"},
                    values={":ttl": ttl, ":zero": 0},
                    return_new=False,
                )

    # --- legacy hold links (schema 1) ----------------------------------------------------------

    def links(self, holder_pk: str) -> list[FileRef]:
        """Every file a legacy holder links (one Query page per 1 MB of links)."""
        items = self.table.query_all(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            values={":pk": holder_pk, ":prefix": keys.LINK_PREFIX},
            consistent=True,
        )
        return [FileRef.from_link_item(i) for i in items if i.get("entity") == "hold"]

    def release_links(self, holder_pk: str, refs: Iterable[FileRef], now: int) -> None:
        """Drop a legacy holder's links to refs (link deleted and holdCount - 1 in one transaction);
        links already gone are skipped."""
        pending_all = list(refs)
        for start in range(0, len(pending_all), LINKS_PER_TRANSACTION):
            pending = pending_all[start : start + LINKS_PER_TRANSACTION]
            while pending:
                try:
                    self.table.transact_write(
                        [op for ref in pending for op in self._release_link_ops(holder_pk, ref, now)]
                    )
                except TransactionConflict as conflict:
                    missing = {pending[i // 2] for i, r in enumerate(conflict.reasons) if r == "ConditionalCheckFailed"}
                    if not missing:
                        raise
                    pending = [r for r in pending if r not in missing]
                    continue
                pending = []

    def _release_link_ops(self, holder_pk: str, ref: FileRef, now: int) -> list[dict[str, Any]]:
        file_key = ref.file_key
        return [
            {
                "Delete": {
                    "Key": {"pk": holder_pk, "sk": keys.link_sk(ref.file_id)},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {
                "Update": {
                    "Key": file_key,
                    "UpdateExpression": "ADD holdCount :minus SET xpk = :xpk, xsk = :xsk",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {
                        ":minus": -1,
                        ":xpk": keys.expiry_shard(file_key["pk"], file_key["sk"], self.expiry_shards),
                        ":xsk": keys.expiry_sort(now, file_key["pk"], file_key["sk"]),
                    },
                }
            },
        ]


def _previews_failed(item: dict[str, Any] | None) -> bool:
    return item is not None and item.get("previewStatus") == PreviewStatus.FAILED.value


def _each(work: Callable[[T], R], items: Sequence[T], pace: Pace, units_each: int) -> list[R]:
    """work(item) for every item, IN_FLIGHT at a time, in waves that pace allows a second; results in
    order; the first error is raised once its wave has finished (nothing is left running behind it)."""
    if len(items) <= 1:
        pace.take(units_each * len(items))
        return [work(i) for i in items]
    results: list[R] = []
    wave = pace.batch(units_each)
    with ThreadPoolExecutor(max_workers=min(IN_FLIGHT, len(items))) as pool:
        for start in range(0, len(items), wave):
            batch = items[start : start + wave]
            pace.take(units_each * len(batch))
            futures = [pool.submit(work, i) for i in batch]
            results.extend(f.result() for f in futures)
    return results
