"""Removing a holder (project, share copy, cart item, order) and everything that dies with it.

Every holder lives in a partition of its own: its META item, its hold links (`FILE#...`) and
whatever else belongs to it (shares, frozen documents). Items of the partition may name what
lives outside it and goes with it:
  `companionKeys`  [{pk, sk}, ...]  items elsewhere in the table (a share's token item, an
                                    external cart's pointer, an order reference)
  `documentKey`    "s3/key"         an S3 object (a large document, a frozen order document)

Removal is the same for every kind, and safe to repeat or to run twice at once:
 1. mark META `deleting` (readers then see nothing; a concurrent save's conditional write fails)
    and due *now* in the expiry index, so the sweep finishes the job if this call dies;
 2. release every hold link (the files go back into the expiry index, due now);
 3. delete the S3 objects and the companion items, then the partition's items, META last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imagestore import keys
from imagestore.data.holds import HoldStore
from imagestore.data.storage import ImageBucket
from imagestore.data.table import Table
from imagestore.errors import ConditionFailed, Throttled
from imagestore.models.holds import FileRef

ACTIVE = "active"
DELETING = "deleting"


@dataclass
class HolderPartition:
    """Every item of one holder's partition, read with one (paged) Query."""

    pk: str
    meta: dict[str, Any] | None
    links: list[FileRef] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)

    @property
    def items(self) -> list[dict[str, Any]]:
        return [*self.others, *([self.meta] if self.meta else [])]


def remove_belongings(table: Table, bucket: ImageBucket, items: Iterable[Mapping[str, Any]], *,
                      also: Sequence[Mapping[str, str]] = ()) -> None:
    """Delete what goes with items: their S3 objects (documentKey), then their companion items
    (companionKeys) and the keys in `also`, in one BatchWriteItem run. An object S3 would not delete
    raises Throttled before any item is touched, so a retry finds everything again."""
    items = list(items)
    objects = [str(i["documentKey"]) for i in items if i.get("documentKey")]
    if objects:
        failed = bucket.delete_objects(objects).failed
        if failed:
            raise Throttled(f"could not delete {len(failed)} document(s); retry")
    companions = [{"pk": k["pk"], "sk": k["sk"]} for i in items for k in i.get("companionKeys", [])]
    if companions or also:
        table.batch_write(deletes=[*companions, *also])


def read_partition(table: Table, pk: str) -> HolderPartition:
    """Every item of a holder's partition: one consistent Query (a page per MB), however many files."""
    items = table.query_all(key_condition="pk = :pk", values={":pk": pk}, consistent=True)
    partition = HolderPartition(pk=pk, meta=None)
    for item in items:
        if item["sk"] == keys.META:
            partition.meta = item
        elif item["sk"].startswith(keys.LINK_PREFIX) and item.get("entity") == "hold":
            partition.links.append(FileRef.from_link_item(item))
        else:
            partition.others.append(item)
    return partition


class HolderStore:
    """Reading and removing holder partitions."""

    def __init__(self, table: Table, holds: HoldStore, bucket: ImageBucket) -> None:
        self.table = table
        self.holds = holds
        self.bucket = bucket

    def read(self, pk: str) -> HolderPartition:
        return read_partition(self.table, pk)

    def remove(self, partition: HolderPartition, now: int, *, only_if_expired: bool = False) -> bool:
        """Remove the holder; with only_if_expired, only if its META is still expired at now
        (a save or load that extended it wins). True when the holder is gone afterwards."""
        meta = partition.meta
        if meta is not None and meta.get("status", ACTIVE) == ACTIVE:
            condition = "attribute_exists(pk) AND (attribute_not_exists(#status) OR #status = :active)"
            values: dict[str, Any] = {":active": ACTIVE, ":deleting": DELETING,
                                      ":xsk": keys.expiry_sort(now, partition.pk, keys.META)}
            if only_if_expired:
                condition += " AND expiresAt <= :now"
                values[":now"] = now
            try:
                self.table.update(
                    {"pk": partition.pk, "sk": keys.META},
                    "SET #status = :deleting, xsk = :xsk REMOVE gsi1pk, gsi1sk",
                    condition=condition, names={"#status": "status"}, values=values, return_new=False,
                )
            except ConditionFailed:
                # Extended, saved or removed by someone else meanwhile: look again.
                current = self.read(partition.pk)
                if current.meta is None:
                    return True
                if current.meta.get("status", ACTIVE) == ACTIVE:
                    return False
                partition = current
        self.holds.release(partition.pk, partition.links, now)
        remove_belongings(self.table, self.bucket, partition.items,
                          also=[{"pk": i["pk"], "sk": i["sk"]} for i in partition.others])
        if partition.meta is not None:
            self.table.delete({"pk": partition.pk, "sk": keys.META})
        return True
