"""A holder's partition (one Query) and the removal of what goes with its items."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imagestore import keys
from imagestore.data.storage import ImageBucket
from imagestore.data.table import Table
from imagestore.errors import Throttled
from imagestore.models.holds import FileRef


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


@dataclass
class Removed:
    """What removing a holder let go: the keys of the files it released (each due now) and the
    partitions of the projects it unpinned (each due now)."""

    files: list[dict[str, str]] = field(default_factory=list)
    unpinned: list[str] = field(default_factory=list)


def remove_belongings(
    table: Table, bucket: ImageBucket, items: Iterable[Mapping[str, Any]], *, also: Sequence[Mapping[str, str]] = ()
) -> None:
    """Delete what goes with items: their S3 objects (documentKey), then their companion items
    (companionKeys) and the keys in `also`, in one BatchWriteItem run. An object S3 would not delete
    raises Throttled before any item is touched, so a retry finds everything again."""
    items = list(items)
    objects = [str(i[name]) for i in items for name in ("documentKey", "manifestKey") if i.get(name)]
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
