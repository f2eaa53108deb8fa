"""The backstops: what DynamoDB TTL removed before the sweep, and objects no item knows (orphans)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from imagestore import keys
from imagestore.data.expiry import ExpiryStore
from imagestore.data.holders import HolderStore
from imagestore.errors import Throttled
from imagestore.observability import logger

ORPHAN_GRACE_SECONDS = 86400  # an object without an item is left alone this long (uploads in flight)
RECONCILE_PAGES = 10  # ListObjectsV2 pages (1,000 keys each) per reconciliation run


def clean_up_after_ttl(old_images: Iterable[Mapping[str, Any]], expiry: ExpiryStore, holders: HolderStore,
                       now: int) -> int:
    """For items TTL deleted: the file's object; a partition's remaining items, hold links released;
    documents and companion items. Raises Throttled when an object could not be deleted (the stream
    batch is then retried). Returns how many images' objects were deleted."""
    images = list(old_images)
    objects = [keys.object_key(i["tenantId"], i["userId"], i["fileId"]) for i in images if i.get("entity") == "file"]
    if objects:
        failed = expiry.bucket.delete_objects(objects).failed
        if failed:
            raise Throttled(f"could not delete {len(failed)} object(s) of expired files; retry")
    plain = []
    for image in images:
        if image.get("sk") == keys.META:
            partition = holders.read(str(image["pk"]))
            if partition.meta is None:
                partition.others.append(dict(image))
                holders.remove(partition, now)
                continue
        plain.append(image)
    expiry.remove_belongings(i for i in plain if i.get("entity") != "file")
    logger.info("cleaned up after TTL", items=len(images), objects=len(objects))
    return len(objects)


@dataclass
class ReconcileReport:
    listed: int = 0
    orphans_deleted: int = 0
    failed: int = 0
    finished_pass: bool = False

    def dump(self) -> dict[str, Any]:
        return dict(self.__dict__)


def reconcile(expiry: ExpiryStore, now: int, *, pages: int = RECONCILE_PAGES, page_size: int = 1000,
              grace_seconds: int = ORPHAN_GRACE_SECONDS) -> ReconcileReport:
    """Page through the bucket from where the last run stopped; delete image objects older than the
    grace period whose file item does not exist. Other objects (documents) are left alone."""
    report = ReconcileReport()
    token = expiry.reconcile_token()
    for _ in range(pages):
        objects, token = expiry.bucket.list_page(token=token, max_keys=page_size)
        report.listed += len(objects)
        candidates: dict[str, dict[str, str]] = {}
        for stored in objects:
            parsed = keys.parse_object_key(stored.key)
            if parsed is not None and stored.last_modified <= now - grace_seconds:
                candidates[stored.key] = keys.file_key(*parsed)
        present = expiry.existing_file_keys(list(candidates.values()))
        orphans = [k for k, key in candidates.items() if (key["pk"], key["sk"]) not in present]
        if orphans:
            result = expiry.bucket.delete_objects(orphans)
            report.orphans_deleted += len(result.deleted)
            report.failed += len(result.failed)
        if token is None:
            report.finished_pass = True
            break
    expiry.save_reconcile_token(token, now)
    logger.info("bucket reconciled", **report.dump())
    return report
