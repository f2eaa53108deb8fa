"""File rules: listing, reading and deleting the caller's own files."""

from __future__ import annotations

from file_service.logic.uploads import find_own_file
from file_service.models import FilePage, FileView
from imagestore.auth import Principal
from imagestore.config import TenantSettings
from imagestore.data.files import FileStore
from imagestore.data.pagination import clamp_limit
from imagestore.data.storage import ImageBucket
from imagestore.keys import staging_key
from imagestore.models.files import FileRecord, FileStatus
from imagestore.observability import logger


def view(record: FileRecord, bucket: ImageBucket, tenant: TenantSettings) -> FileView:
    """A file as the API shows it, with a short-lived download URL once it is available."""
    url = None
    if record.status is FileStatus.AVAILABLE:
        url = bucket.presign_download(record.object_key, expires_in=tenant.download_url_seconds,
                                      filename=record.filename)
    return FileView.of(record, url)


def list_files(principal: Principal, files: FileStore, bucket: ImageBucket, tenant: TenantSettings,
               *, limit: int | None, cursor: str | None, now: float) -> FilePage:
    """One page of the caller's files, newest first (expired ones are already gone for readers)."""
    principal.require_full_user()
    page = files.list_files(principal.tenant_id, principal.user_id, limit=clamp_limit(limit), cursor=cursor)
    records: list[FileRecord] = page.items
    return FilePage(
        items=[view(r, bucket, tenant) for r in records if not r.is_expired(now)],
        next_cursor=page.next_cursor,
    )


def get_file(principal: Principal, file_id: str, files: FileStore, bucket: ImageBucket,
             tenant: TenantSettings, now: float) -> FileView:
    principal.require_full_user()
    return view(find_own_file(principal, file_id, files, now), bucket, tenant)


def delete_file(principal: Principal, file_id: str, files: FileStore, bucket: ImageBucket, now: float) -> None:
    """Delete the item (refused while held), then the bytes; a failed S3 delete leaves an orphan
    object for the reconciliation run, never a record without its bytes."""
    principal.require_full_user()
    record = find_own_file(principal, file_id, files, now)
    files.delete_unheld_file(record)
    # Its staging object too (a pending file's bytes, or a POST repeated after completion).
    result = bucket.delete_objects([record.object_key, staging_key(record.object_key)])
    if result.failed:
        logger.warning("object left for reconciliation", key=record.object_key, errors=result.failed)
