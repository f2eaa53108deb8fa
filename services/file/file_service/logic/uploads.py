"""Upload rules: what may be uploaded, and what makes an uploaded object a usable image."""

from __future__ import annotations

from dataclasses import dataclass

from file_service.logic.mobile_uploads import open_mobile_upload, reserve_upload
from file_service.models import UploadRequest, UploadTarget, UploadTicket
from imagestore import clock, ids, webhook_events
from imagestore.auth import MOBILE_UPLOAD_SCOPE, Principal
from imagestore.clock import from_epoch, iso
from imagestore.config import TenantSettings
from imagestore.data.files import FileStore
from imagestore.data.mobile_uploads import MobileUploadStore
from imagestore.data.storage import ImageBucket, ObjectChanged, ObjectHead
from imagestore.data.webhooks import WebhookBus
from imagestore.errors import Conflict, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from imagestore.imaging import ImageInfo, ObjectSource, inspect_object
from imagestore.keys import staging_key
from imagestore.models.files import FileRecord, FileStatus, Retention, UploadRefusal, pending_deadline
from imagestore.observability import logger


@dataclass(frozen=True)
class UploadContext:
    """What the upload rules work with: the tenant's settings and the stores."""

    tenant: TenantSettings
    files: FileStore
    bucket: ImageBucket
    mobile_uploads: MobileUploadStore | None = None
    webhooks: WebhookBus | None = None


def request_upload(principal: Principal, request: UploadRequest, ctx: UploadContext, now: int,
                   retention: Retention = Retention.SESSION) -> UploadTicket:
    """Record a pending file and return a presigned POST that accepts exactly its declared bytes."""
    if request.content_type not in ctx.tenant.allowed_types:
        raise UnsupportedMediaType(
            f"content type {request.content_type} is not accepted",
            details={"allowedTypes": list(ctx.tenant.allowed_types)},
        )
    if request.size_bytes > ctx.tenant.max_upload_bytes:
        raise PayloadTooLarge(
            f"{request.size_bytes} bytes is over the limit of {ctx.tenant.max_upload_bytes}",
            details={"maxBytes": ctx.tenant.max_upload_bytes},
        )
    mobile_upload = reserve_upload(principal, request.size_bytes, ctx.mobile_uploads, now)
    if mobile_upload is not None:
        retention = mobile_upload.retention
    retention_seconds = (ctx.tenant.extended_retention_seconds if retention is Retention.EXTENDED
                         else ctx.tenant.session_retention_seconds)
    record = FileRecord(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        file_id=ids.new_id(),
        session_id=principal.session_id,
        filename=request.filename,
        content_type=request.content_type,
        size_bytes=request.size_bytes,
        retention=retention,
        created_at=now,
        expires_at=now + retention_seconds,
        mobile_upload_id=principal.scope_value(MOBILE_UPLOAD_SCOPE),
    )
    expires_in = ctx.tenant.upload_url_seconds
    ctx.files.add_pending_file(record, due_at=min(pending_deadline(now, expires_in), record.expires_at))
    post = ctx.bucket.presign_upload(
        staging_key(record.object_key), content_type=record.content_type,
        min_bytes=record.size_bytes, max_bytes=record.size_bytes, expires_in=expires_in,
    )
    return UploadTicket(
        file_id=record.file_id,
        upload=UploadTarget(url=post.url, fields=post.fields, expires_at=iso(from_epoch(now + expires_in))),
        max_bytes=ctx.tenant.max_upload_bytes,
    )


def find_own_file(principal: Principal, file_id: str, files: FileStore, now: float) -> FileRecord:
    """The caller's file; anything else (another user's, a mobile upload's other files, expired) is 404."""
    if not ids.is_id(file_id):
        raise NotFound(f"file {file_id} not found")
    record = files.get_file(principal.tenant_id, principal.user_id, file_id)
    mobile_upload_id = principal.scope_value(MOBILE_UPLOAD_SCOPE)
    if (
        record is None
        or record.is_expired(now)
        or (not principal.is_full_user and (mobile_upload_id is None or record.mobile_upload_id != mobile_upload_id))
    ):
        raise NotFound(f"file {file_id} not found")
    return record


def find_file_to_complete(principal: Principal, file_id: str, ctx: UploadContext, now: int) -> FileRecord:
    """The caller's file to complete; a phone's token only while its mobile upload is open."""
    if not principal.is_full_user:
        open_mobile_upload(principal, ctx.mobile_uploads, now)
    return find_own_file(principal, file_id, ctx.files, now)


def complete_upload(record: FileRecord, ctx: UploadContext, now: int) -> FileRecord:
    """Verify the uploaded bytes (declared size, real type, pixel limit, whole structure: see
    imagestore.imaging) and make the file available with exactly those bytes.

    The presigned POST writes to the file's staging key; the bytes verified there are copied to the
    file's object key on their ETag (a POST that replaced them meanwhile fails the copy: 409, complete
    again), and the staging object is deleted. The object key is written by nothing else, so a POST
    repeated after completion (its URL stays valid for upload_url_seconds) or after the file's deletion
    creates only a staging object that is never served (the ObjectCreated function deletes it).

    Idempotent: completing an available file returns it unchanged. A refused object is deleted so
    that its bytes are not kept, after its refusal is recorded on the pending file; the pending record
    stays until it expires, so the client may upload again while its presigned POST is valid. Both
    the client's complete and the ObjectCreated function run this, concurrently: a run that finds the
    bytes gone (no object, or deleted while it read them) answers the refusal recorded meanwhile by
    the other run (the same 422), not a 409. New bytes (a staging object again) are verified on their
    own, whatever an earlier upload's refusal said; making the file available removes the refusal.
    """
    if record.status is FileStatus.AVAILABLE:
        return record
    staging = staging_key(record.object_key)
    key = staging
    head = ctx.bucket.head(staging)
    if head is None:
        # No staging object: either no bytes yet, or refused ones (deleted), or a completion that
        # copied them stopped before it marked the file available (only this function writes the
        # object key): verify them there.
        key = record.object_key
        head = ctx.bucket.head(key)
        if head is None:
            return _after_bytes_gone(record, ctx, None, Conflict(
                f"no bytes have been uploaded for file {record.file_id} yet"))
    try:
        info = _verified(record, key, head, ctx)
    except ObjectChanged:
        return _after_bytes_gone(record, ctx, head.etag, Conflict(
            f"the bytes of file {record.file_id} changed while they were checked; complete again"))
    if key == staging:
        assert head.etag is not None
        if not ctx.bucket.copy_if_unchanged(staging, record.object_key, head.etag):
            return _completed_meanwhile(record, ctx)
    available = ctx.files.mark_available(record, width=info.width, height=info.height, completed_at=now)
    ctx.bucket.delete_objects([staging])
    if record.mobile_upload_id is not None:
        webhook_events.emit(ctx.webhooks, webhook_events.mobile_upload_file_added(
            record.tenant_id, record.user_id, record.mobile_upload_id, record.file_id, now))
    logger.info("upload completed", file_id=record.file_id, bytes=record.size_bytes,
                width=info.width, height=info.height)
    return available


def _verified(record: FileRecord, key: str, head: ObjectHead, ctx: UploadContext) -> ImageInfo:
    """The object at key, checked against the record and the tenant's limits; refused bytes are
    deleted once their refusal is recorded on the pending file. ObjectChanged when the object was
    replaced or deleted while it was read."""
    try:
        info = _inspect(key, head, ctx.bucket, record)
        if info is None:
            raise Unprocessable(f"the uploaded bytes are not an image of an accepted type "
                                f"({', '.join(ctx.tenant.allowed_types)})")
        if info.content_type != record.content_type:
            raise Unprocessable(
                f"the uploaded bytes are {info.content_type}, not the declared {record.content_type}",
                details={"declaredType": record.content_type, "actualType": info.content_type},
            )
        if info.pixels is None:
            raise Unprocessable("the image's dimensions cannot be read; the file is damaged")
        if info.pixels > ctx.tenant.max_pixels:
            raise Unprocessable(
                f"{info.width}x{info.height} pixels is over the limit of {ctx.tenant.max_pixels}",
                details={"width": info.width, "height": info.height, "pixels": info.pixels,
                         "maxPixels": ctx.tenant.max_pixels},
            )
        if not info.complete:
            raise Unprocessable("the image is cut short: its data ends before the end of its format's "
                                "structure (an interrupted upload?)")
    except Unprocessable as exc:
        # Recorded first: a concurrent completion that then finds the bytes gone answers this refusal.
        ctx.files.record_refusal(record, UploadRefusal.of(exc.code, exc.message, exc.details, head.etag))
        ctx.bucket.delete_objects([key])
        webhook_events.emit(ctx.webhooks, webhook_events.file_refused(
            record.tenant_id, record.user_id, record.file_id, exc.code, exc.message, str(head.etag),
            int(clock.now_epoch())))
        raise
    return info


def _after_bytes_gone(record: FileRecord, ctx: UploadContext, etag: str | None,
                      otherwise: Conflict) -> FileRecord:
    """The bytes to verify are gone (etag None: there were none; else the object of that ETag was
    deleted or replaced while it was read): the file as it is now (one GetItem) says why. Available:
    another completion finished first. Refused (of that very object, when etag is given): the same
    422 again. Anything else: `otherwise`."""
    current = ctx.files.get_file(record.tenant_id, record.user_id, record.file_id)
    if current is None:
        raise NotFound(f"file {record.file_id} not found")
    if current.status is FileStatus.AVAILABLE:
        return current
    refusal = current.refusal
    if current.status is FileStatus.PENDING and refusal is not None and (etag is None or refusal.etag == etag):
        raise Unprocessable(refusal.message, details=dict(refusal.details))
    raise otherwise


def _inspect(key: str, head: ObjectHead, bucket: ImageBucket, record: FileRecord) -> ImageInfo | None:
    """Size first, then the object's structure (ranged GETs of that very version; a JPEG's scan whole)."""
    if head.size_bytes != record.size_bytes:
        raise Unprocessable(
            f"uploaded {head.size_bytes} bytes but {record.size_bytes} were declared",
            details={"declaredBytes": record.size_bytes, "uploadedBytes": head.size_bytes},
        )
    return inspect_object(ObjectSource(
        lambda start, length: bucket.read_range(key, start, length, etag=head.etag), head.size_bytes))


def _completed_meanwhile(record: FileRecord, ctx: UploadContext) -> FileRecord:
    """The copy found other bytes, or none: another completion may have finished first."""
    current = ctx.files.get_file(record.tenant_id, record.user_id, record.file_id)
    if current is not None and current.status is FileStatus.AVAILABLE:
        return current
    raise Conflict(f"the bytes of file {record.file_id} changed while they were checked; complete again")
