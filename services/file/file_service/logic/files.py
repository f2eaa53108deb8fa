"""File rules: listing, reading and deleting the caller's own files."""

from __future__ import annotations

import math

from file_service.logic.uploads import find_own_file
from file_service.logic.views import view
from file_service.models import FilePage, FileView, PrintCheckView
from imagestore.auth import Principal
from imagestore.config import TenantSettings
from imagestore.data.files import FileStore
from imagestore.data.pagination import clamp_limit
from imagestore.data.storage import ImageBucket
from imagestore.errors import BadRequest, Conflict
from imagestore.keys import image_object_keys
from imagestore.models.files import FileRecord, FileStatus
from imagestore.observability import logger
from imagestore.previews import MAX_PRINT_MM, MIN_PRINT_MM, print_check


def list_files(
    principal: Principal,
    files: FileStore,
    bucket: ImageBucket,
    tenant: TenantSettings,
    *,
    limit: int | None,
    cursor: str | None,
    now: float,
) -> FilePage:
    """One page of the caller's files, newest first (expired ones are already gone for readers)."""
    principal.require_full_user()
    page = files.list_files(principal.tenant_id, principal.user_id, limit=clamp_limit(limit), cursor=cursor)
    records: list[FileRecord] = page.items
    return FilePage(
        items=[view(r, bucket, tenant) for r in records if not r.is_expired(now)],
        next_cursor=page.next_cursor,
    )


def get_file(
    principal: Principal, file_id: str, files: FileStore, bucket: ImageBucket, tenant: TenantSettings, now: float
) -> FileView:
    principal.require_full_user()
    return view(find_own_file(principal, file_id, files, now), bucket, tenant)


def delete_file(principal: Principal, file_id: str, files: FileStore, bucket: ImageBucket, now: float) -> None:
    """Delete the item (refused while held), then the bytes; a failed S3 delete leaves an orphan
    object for the reconciliation run, never a record without its bytes."""
    principal.require_full_user()
    record = find_own_file(principal, file_id, files, now)
    files.delete_unheld_file(record)
    # Its staging object too (a pending file's bytes, or a POST repeated after completion), and its previews.
    result = bucket.delete_objects(image_object_keys(record.object_key))
    if result.failed:
        logger.warning("object left for reconciliation", key=record.object_key, errors=result.failed)


def check_print(
    principal: Principal,
    file_id: str,
    files: FileStore,
    tenant: TenantSettings,
    now: float,
    *,
    width_mm: str | None,
    height_mm: str | None,
) -> PrintCheckView:
    """The effective DPI of the file printed at width_mm x height_mm, and its verdict against the
    tenant's thresholds (imagestore.previews.print_check)."""
    principal.require_full_user()
    width, height = _millimetres("widthMm", width_mm), _millimetres("heightMm", height_mm)
    record = find_own_file(principal, file_id, files, now)
    if record.status is not FileStatus.AVAILABLE or not (record.width and record.height):
        raise Conflict(f"file {file_id} has no known pixel size yet", details={"status": record.status.value})
    try:
        check = print_check(
            record.width,
            record.height,
            width,
            height,
            good_dpi=tenant.print_good_dpi,
            acceptable_dpi=tenant.print_acceptable_dpi,
        )
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    return PrintCheckView(dpi=check.dpi, verdict=check.verdict.value)


def _millimetres(name: str, value: str | None) -> float:
    """A print side from the query string: a finite number from MIN_PRINT_MM to MAX_PRINT_MM (checked
    with the rest by print_check)."""
    if value is None or not value.strip():
        raise BadRequest(f"query parameter {name} is required (millimetres)")
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"query parameter {name} must be a number of millimetres") from None
    if not (math.isfinite(number) and MIN_PRINT_MM <= number <= MAX_PRINT_MM):
        raise BadRequest(
            f"query parameter {name} must be from {MIN_PRINT_MM:g} to {MAX_PRINT_MM:g} millimetres",
            details={"parameter": name, "minimum": MIN_PRINT_MM, "maximum": MAX_PRINT_MM},
        )
    return number
