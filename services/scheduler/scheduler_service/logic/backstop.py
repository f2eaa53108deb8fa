"""The backstops: what DynamoDB TTL removed before the sweep, and objects no item knows or references
(orphaned images and documents)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from imagestore import keys
from imagestore.data.expiry import DocumentOwner, ExpiryStore
from imagestore.data.holders import HolderStore
from imagestore.errors import Throttled
from imagestore.observability import logger

ORPHAN_GRACE_SECONDS = 86400  # an object without an item is left alone this long (uploads, saves in flight)
RECONCILE_PAGES = 10  # ListObjectsV2 pages (1,000 keys each) per reconciliation run


def clean_up_after_ttl(
    old_images: Iterable[Mapping[str, Any]], expiry: ExpiryStore, holders: HolderStore, now: int
) -> int:
    """For items TTL deleted: the file's object; a partition's remaining items, hold links released;
    documents and companion items. Raises Throttled when an object could not be deleted (the stream
    batch is then retried). Returns how many images' objects were deleted."""
    images = list(old_images)
    objects = [
        key
        for i in images
        if i.get("entity") == "file"
        for key in keys.image_object_keys(keys.object_key(i["tenantId"], i["userId"], i["fileId"]))
    ]
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
    return sum(1 for i in images if i.get("entity") == "file")


@dataclass
class ReconcileReport:
    """One reconciliation run: objects listed; image objects without a file item deleted
    (orphans_deleted); document objects no item references deleted (documents_deleted); objects
    S3 would not delete (failed, images and documents: the next pass finds them again)."""

    listed: int = 0
    orphans_deleted: int = 0
    documents_deleted: int = 0
    failed: int = 0
    finished_pass: bool = False

    def dump(self) -> dict[str, Any]:
        return dict(self.__dict__)


def reconcile(
    expiry: ExpiryStore,
    now: int,
    *,
    pages: int = RECONCILE_PAGES,
    page_size: int = 1000,
    grace_seconds: int = ORPHAN_GRACE_SECONDS,
) -> ReconcileReport:
    """Page through the bucket from where the last run stopped and delete, among the objects older
    than the grace period:
    - image objects (keys.parse_object_key) whose file item does not exist;
    - document objects (keys.document_owner_key: a large project document, an order's frozen
      document, a resubmission's manifest) that their owner item does not reference: the item does
      not exist, or its `documentKey` names another object (a replaced version a crash left behind).
    Every other key is left alone. Per page: BatchGetItem (100 keys a call) for the file items and
    for the owner items, and one DeleteObjects; never a request per object."""
    report = ReconcileReport()
    token = expiry.reconcile_token()
    for _ in range(pages):
        objects, token = expiry.bucket.list_page(token=token, max_keys=page_size)
        report.listed += len(objects)
        images: dict[str, dict[str, str]] = {}
        documents: dict[str, dict[str, str]] = {}
        for stored in objects:
            if stored.last_modified > now - grace_seconds:
                continue
            parsed = keys.parse_object_key(stored.key)
            if parsed is not None:
                images[stored.key] = keys.file_key(*parsed)
            elif (owner := keys.document_owner_key(stored.key)) is not None:
                documents[stored.key] = owner
        present = expiry.existing_file_keys(list(images.values()))
        orphans = {k for k, key in images.items() if (key["pk"], key["sk"]) not in present}
        owners = expiry.document_owners(list(documents.values()))
        unreferenced = {k for k, key in documents.items() if _unreferenced(k, owners.get((key["pk"], key["sk"])))}
        if orphans or unreferenced:
            result = expiry.bucket.delete_objects([*orphans, *unreferenced])
            report.orphans_deleted += sum(1 for k in result.deleted if k in orphans)
            report.documents_deleted += sum(1 for k in result.deleted if k in unreferenced)
            report.failed += len(result.failed)
        if token is None:
            report.finished_pass = True
            break
    expiry.save_reconcile_token(token, now)
    logger.info("bucket reconciled", **report.dump())
    return report


def _unreferenced(object_key: str, owner: DocumentOwner | None) -> bool:
    """Whether a document object is one its owner item does not reference. Every save writes its
    document under a new key (keys.document_object_key), so an object older than the grace period
    that its item does not name is left over: a version replaced, or a save that failed."""
    return owner is None or object_key not in owner.document_keys
