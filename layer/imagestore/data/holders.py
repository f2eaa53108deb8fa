"""Removing a holder (project, share copy, cart item, order) and everything that dies with it.

Every holder lives in a partition of its own: its META item, its hold links (`FILE#...`) and
whatever else belongs to it (shares, frozen documents). Items of the partition may name what
lives outside it and goes with it:
  `companionKeys`  [{pk, sk}, ...]  items elsewhere in the table (a share's token item, an
                                    external cart's pointer, an order reference)
  `documentKey`    "s3/key"         an S3 object (a frozen order document, a resubmission manifest)
  `manifestKey`    "s3/key"         an S3 object (a version manifest frozen into an order)
  `pinKey`         {pk, sk}         the pin this holder has on a project version (imagestore.data.projects)

Removal is the same for every kind, and safe to repeat or to run twice at once:
 1. mark META `deleting` (readers then see nothing; a concurrent save's conditional write fails)
    and due *now* in the expiry index, so the sweep finishes the job if this call dies;
 2. release every legacy hold link (the files go back into the expiry index, due now) and every pin;
 3. delete the S3 objects and the companion items, then the partition's items, META last.
Projects hold their files differently (holds on the files, pins) and are removed by imagestore.data.projects.
"""

from __future__ import annotations

from typing import Any

from imagestore import keys
from imagestore.data.holds import HoldStore
from imagestore.data.partitions import HolderPartition, Removed, read_partition, remove_belongings
from imagestore.data.projects import ProjectStore
from imagestore.data.storage import ImageBucket
from imagestore.data.table import Table
from imagestore.errors import ConditionFailed

ACTIVE = "active"
DELETING = "deleting"


class HolderStore:
    """Reading and removing holder partitions."""

    def __init__(self, table: Table, holds: HoldStore, bucket: ImageBucket) -> None:
        self.table = table
        self.holds = holds
        self.bucket = bucket
        self.projects = ProjectStore(table, holds, bucket, holds.expiry_shards)

    def read(self, pk: str) -> HolderPartition:
        return read_partition(self.table, pk)

    def remove(self, partition: HolderPartition, now: int, *, only_if_expired: bool = False) -> Removed | None:
        """Remove the holder; with only_if_expired, only if its META is still expired at now
        (a save or load that extended it wins). What it let go when the holder is gone afterwards,
        None when it stays."""
        meta = partition.meta
        if meta is not None and meta.get("entity") == "project":
            return self.projects.remove(partition, now, only_if_expired=only_if_expired)
        if meta is None:
            ttl_removed = [i for i in partition.others if i.get("sk") == keys.META and i.get("entity") == "project"]
            if ttl_removed:
                return self.projects.remove_after_ttl(ttl_removed[0], now)
        if meta is not None and meta.get("status", ACTIVE) == ACTIVE:
            condition = "attribute_exists(pk) AND (attribute_not_exists(#status) OR #status = :active)"
            values: dict[str, Any] = {
                ":active": ACTIVE,
                ":deleting": DELETING,
                ":xsk": keys.expiry_sort(now, partition.pk, keys.META),
            }
            if only_if_expired:
                condition += " AND expiresAt <= :now"
                values[":now"] = now
            try:
                self.table.update(
                    {"pk": partition.pk, "sk": keys.META},
                    "SET #status = :deleting, xsk = :xsk REMOVE gsi1pk, gsi1sk",
                    condition=condition,
                    names={"#status": "status"},
                    values=values,
                    return_new=False,
                )
            except ConditionFailed:
                # Extended, saved or removed by someone else meanwhile: look again.
                current = self.read(partition.pk)
                if current.meta is None:
                    return Removed()
                if current.meta.get("status", ACTIVE) == ACTIVE:
                    return None
                partition = current
        self.holds.release_links(partition.pk, partition.links, now)
        removed = Removed(files=[ref.file_key for ref in partition.links])
        for item in partition.items:
            if item.get("pinKey") and self.projects.unpin(dict(item["pinKey"]), now):
                removed.unpinned.append(str(item["pinKey"]["pk"]))
        remove_belongings(
            self.table, self.bucket, partition.items, also=[{"pk": i["pk"], "sk": i["sk"]} for i in partition.others]
        )
        if partition.meta is not None:
            self.table.delete({"pk": partition.pk, "sk": keys.META})
        return removed
