"""Upload rules: what may be uploaded, and what makes an uploaded object a usable image."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from pydantic import ValidationError

from file_service.logic.mobile_uploads import open_mobile_upload, reserve_upload
from file_service.models import FileView, UploadRequest, UploadTarget, UploadTicket
from imagestore import clock, ids, webhook_events
from imagestore.auth import MOBILE_UPLOAD_SCOPE, Principal
from imagestore.clock import from_epoch, iso
from imagestore.config import TenantSettings
from imagestore.data.files import FileStore
from imagestore.data.mobile_uploads import MobileUploadStore
from imagestore.data.storage import ImageBucket, ObjectChanged, ObjectHead
from imagestore.errors import (
    BadRequest,
    Conflict,
    DomainError,
    NotFound,
    PayloadTooLarge,
    TransactionConflict,
    Unprocessable,
    UnsupportedMediaType,
)
from imagestore.imaging import ImageInfo, ObjectSource, inspect_object
from imagestore.keys import staging_key
from imagestore.models.files import FileRecord, FileStatus, Retention, UploadRefusal, abandoned_due
from imagestore.observability import logger


@dataclass(frozen=True)
class UploadContext:
    """What the upload rules work with: the tenant's settings and the stores."""

    tenant: TenantSettings
    files: FileStore
    bucket: ImageBucket
    mobile_uploads: MobileUploadStore | None = None


def check_declared(request: UploadRequest, tenant: TenantSettings) -> None:
    """The declared type and size against the tenant's limits (415, 413)."""
    if request.content_type not in tenant.allowed_types:
        raise UnsupportedMediaType(
            f"content type {request.content_type} is not accepted",
            details={"allowedTypes": list(tenant.allowed_types)},
        )
    if request.size_bytes > tenant.max_upload_bytes:
        raise PayloadTooLarge(
            f"{request.size_bytes} bytes is over the limit of {tenant.max_upload_bytes}",
            details={"maxBytes": tenant.max_upload_bytes},
        )


def new_pending_record(
    principal: Principal,
    request: UploadRequest,
    ctx: UploadContext,
    now: int,
    retention: Retention = Retention.SESSION,
    **extra: object,
) -> FileRecord:
    """The pending file of a requested upload (not yet written); a phone's token takes a slot of its
    mobile upload here (409/413 when it is full)."""
    check_declared(request, ctx.tenant)
    mobile_upload = reserve_upload(principal, request.size_bytes, ctx.mobile_uploads, now)
    if mobile_upload is not None:
        retention = mobile_upload.retention
    return FileRecord(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        file_id=ids.new_id(),
        session_id=principal.session_id,
        filename=request.filename,
        content_type=request.content_type,
        size_bytes=request.size_bytes,
        retention=retention,
        created_at=now,
        expires_at=now + retention_seconds(ctx.tenant, retention),
        mobile_upload_id=principal.scope_value(MOBILE_UPLOAD_SCOPE),
        sha256=request.sha256,
        **extra,  # type: ignore[arg-type]
    )


def retention_seconds(tenant: TenantSettings, retention: Retention) -> int:
    return tenant.extended_retention_seconds if retention is Retention.EXTENDED else tenant.session_retention_seconds


def pending_due(record: FileRecord, ctx: UploadContext, now: int) -> int:
    """When the sweep first looks at a pending file (an upload never completed goes then: for a session
    upload, its retention's end, so completing it never moves the entry; imagestore.models.files.abandoned_due)."""
    return abandoned_due(
        now, ctx.tenant.upload_url_seconds, record.expires_at, multipart=record.multipart_upload_id is not None
    )


def ticket_for(record: FileRecord, ctx: UploadContext, now: int) -> UploadTicket:
    """The presigned POST of a pending file: exactly its declared bytes (and SHA-256, when declared)."""
    expires_in = ctx.tenant.upload_url_seconds
    post = ctx.bucket.presign_upload(
        staging_key(record.object_key),
        content_type=record.content_type,
        min_bytes=record.size_bytes,
        max_bytes=record.size_bytes,
        expires_in=expires_in,
        sha256=record.sha256,
    )
    return UploadTicket(
        file_id=record.file_id,
        upload=UploadTarget(url=post.url, fields=post.fields, expires_at=iso(from_epoch(now + expires_in))),
        max_bytes=ctx.tenant.max_upload_bytes,
    )


def find_duplicates(
    principal: Principal, requests: list[UploadRequest], ctx: UploadContext, now: int
) -> dict[str, FileRecord]:
    """The caller's available files (by sha256) whose bytes these requests would upload again, each
    adopted into the caller's session for at least a new upload's retention (see docs/uploads.md:
    per user, full user tokens only: a phone's mobile upload always gets its own file)."""
    if not principal.is_full_user:
        return {}
    digests = [r.sha256 for r in requests if r.sha256 is not None]
    if not digests:
        return {}
    found = ctx.files.files_of_digests(principal.tenant_id, principal.user_id, digests)
    adopted: dict[str, FileRecord] = {}
    for digest, record in found.items():
        if record.status is not FileStatus.AVAILABLE or record.is_expired(now):
            continue
        request = next(r for r in requests if r.sha256 == digest)
        if request.content_type != record.content_type or request.size_bytes != record.size_bytes:
            continue  # the same hash with another declared type or size: not these bytes
        kept = ctx.files.adopt_duplicate(
            record, session_id=principal.session_id, expires_at=now + ctx.tenant.session_retention_seconds, now=now
        )
        if kept is not None:
            adopted[digest] = kept
    return adopted


def duplicate_ticket(record: FileRecord, ctx: UploadContext) -> UploadTicket:
    return UploadTicket(
        file_id=record.file_id,
        upload=None,
        max_bytes=ctx.tenant.max_upload_bytes,
        duplicate=True,
        file=FileView.of(record),
    )


def request_upload(
    principal: Principal, request: UploadRequest, ctx: UploadContext, now: int, retention: Retention = Retention.SESSION
) -> UploadTicket:
    """Record a pending file and return a presigned POST that accepts exactly its declared bytes; bytes
    the caller already has available (same sha256) are answered with that file, nothing to upload."""
    check_declared(request, ctx.tenant)
    duplicate = find_duplicates(principal, [request], ctx, now).get(request.sha256 or "")
    if duplicate is not None:
        return duplicate_ticket(duplicate, ctx)
    record = new_pending_record(principal, request, ctx, now, retention)
    ctx.files.add_pending_file(record, due_at=pending_due(record, ctx, now))
    return ticket_for(record, ctx, now)


@dataclass(frozen=True)
class ItemOutcome:
    """One item of a batch: its result (a ticket, a file) or its error."""

    result: object = None
    error: DomainError | None = None


def request_uploads(principal: Principal, bodies: list[object], ctx: UploadContext, now: int) -> list[ItemOutcome]:
    """Tickets for up to 100 files in one call, each checked as request_upload checks one: an item that
    is malformed, refused or a repeat of an earlier item's sha256 is answered with its own error. The
    pending files are written together (BatchWriteItem), duplicates found with two BatchGetItems."""
    outcomes: dict[int, ItemOutcome] = {}
    parsed: dict[int, UploadRequest] = {}
    first_of_digest: dict[str, int] = {}
    for index, body in enumerate(bodies):
        try:
            request = UploadRequest.model_validate(body)
            check_declared(request, ctx.tenant)
        except ValidationError as exc:
            outcomes[index] = ItemOutcome(
                error=BadRequest(
                    "file is invalid",
                    details={
                        "problems": [
                            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                            for e in exc.errors(include_url=False, include_input=False)
                        ]
                    },
                )
            )
            continue
        except DomainError as exc:
            outcomes[index] = ItemOutcome(error=exc)
            continue
        if request.sha256 is not None:
            if request.sha256 in first_of_digest:
                outcomes[index] = ItemOutcome(
                    error=BadRequest(
                        f"the same sha256 as files[{first_of_digest[request.sha256]}] in this batch",
                        details={"sameAs": first_of_digest[request.sha256]},
                    )
                )
                continue
            first_of_digest[request.sha256] = index
        parsed[index] = request
    duplicates = find_duplicates(principal, list(parsed.values()), ctx, now)
    pending: list[tuple[FileRecord, int]] = []
    for index, request in parsed.items():
        duplicate = duplicates.get(request.sha256 or "")
        if duplicate is not None:
            outcomes[index] = ItemOutcome(duplicate_ticket(duplicate, ctx))
            continue
        try:
            record = new_pending_record(principal, request, ctx, now)
        except DomainError as exc:
            outcomes[index] = ItemOutcome(error=exc)
            continue
        pending.append((record, pending_due(record, ctx, now)))
        outcomes[index] = ItemOutcome(record)
    ctx.files.add_pending_files(pending)
    for index, outcome in outcomes.items():
        if isinstance(outcome.result, FileRecord):
            outcomes[index] = ItemOutcome(ticket_for(outcome.result, ctx, now))
    return [outcomes[i] for i in range(len(bodies))]


def complete_uploads(
    principal: Principal, file_ids: list[str], ctx: UploadContext, now: int, workers: int = 16
) -> list[ItemOutcome]:
    """Complete up to 100 files in one call, each as complete_upload does (its own status and error):
    one BatchGetItem reads them all, files already available are answered at once, the others are
    verified in parallel (each a few S3 requests). A file id given twice is answered once, the repeat 400."""
    if not principal.is_full_user:
        open_mobile_upload(principal, ctx.mobile_uploads, now)
    outcomes: dict[int, ItemOutcome] = {}
    first: dict[str, int] = {}
    for index, file_id in enumerate(file_ids):
        if file_id in first:
            outcomes[index] = ItemOutcome(
                error=BadRequest(
                    f"file {file_id} is already fileIds[{first[file_id]}] of this batch",
                    details={"sameAs": first[file_id]},
                )
            )
        elif not ids.is_id(file_id):
            outcomes[index] = ItemOutcome(error=NotFound(f"file {file_id} not found"))
            first[file_id] = index
        else:
            first[file_id] = index
    wanted = [f for f, i in first.items() if i not in outcomes]
    records = ctx.files.get_files(principal.tenant_id, principal.user_id, wanted) if wanted else {}
    to_verify: dict[int, FileRecord] = {}
    for file_id in wanted:
        index = first[file_id]
        record = records.get(file_id)
        if record is None or not _visible(principal, record, now):
            outcomes[index] = ItemOutcome(error=NotFound(f"file {file_id} not found"))
        elif record.status is FileStatus.AVAILABLE:
            outcomes[index] = ItemOutcome(record)
        else:
            to_verify[index] = record

    def verify(record: FileRecord) -> ItemOutcome:
        try:
            return ItemOutcome(complete_upload(record, ctx, now))
        except DomainError as exc:
            return ItemOutcome(error=exc)
        except TransactionConflict:
            return ItemOutcome(error=Conflict("a concurrent change won; complete again"))

    if to_verify:
        with ThreadPoolExecutor(max_workers=min(workers, len(to_verify))) as pool:
            for index, outcome in zip(to_verify, pool.map(verify, to_verify.values()), strict=True):
                outcomes[index] = outcome
    return [outcomes[i] for i in range(len(file_ids))]


def _visible(principal: Principal, record: FileRecord, now: float) -> bool:
    """As find_own_file: not expired, and a phone's token sees only its mobile upload's files."""
    if record.is_expired(now):
        return False
    mobile_upload_id = principal.scope_value(MOBILE_UPLOAD_SCOPE)
    return principal.is_full_user or (mobile_upload_id is not None and record.mobile_upload_id == mobile_upload_id)


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
    if record.multipart_upload_id is not None:
        join_parts(record, ctx)
    key = staging
    head = ctx.bucket.head(staging)
    if head is None:
        # No staging object: either no bytes yet, or refused ones (deleted), or a completion that
        # copied them stopped before it marked the file available (only this function writes the
        # object key): verify them there.
        key = record.object_key
        head = ctx.bucket.head(key)
        if head is None:
            return _after_bytes_gone(
                record, ctx, None, Conflict(f"no bytes have been uploaded for file {record.file_id} yet")
            )
    try:
        info = _verified(record, key, head, ctx)
    except ObjectChanged:
        return _after_bytes_gone(
            record,
            ctx,
            head.etag,
            Conflict(f"the bytes of file {record.file_id} changed while they were checked; complete again"),
        )
    computed_sha256 = None
    if key == staging:
        assert head.etag is not None
        copy = ctx.bucket.copy_if_unchanged(staging, record.object_key, head.etag)
        if not copy.copied:
            return _completed_meanwhile(record, ctx)
        _check_sha256(record, copy.sha256, head, ctx)
        computed_sha256 = copy.sha256  # kept when none was declared: the file becomes a duplicate candidate
    # Through a mobile upload: its `mobile_upload.file_added` webhook event in the same transaction.
    events = (
        [
            webhook_events.mobile_upload_file_added(
                record.tenant_id, record.user_id, record.mobile_upload_id, record.file_id, now
            )
        ]
        if record.mobile_upload_id is not None
        else []
    )
    available = ctx.files.mark_available(
        record, width=info.width, height=info.height, completed_at=now, sha256=computed_sha256, events=events
    )
    ctx.bucket.delete_objects([staging])
    ctx.files.remember_digest(available)
    logger.info(
        "upload completed", file_id=record.file_id, bytes=record.size_bytes, width=info.width, height=info.height
    )
    return available


class ChecksumMismatch(Unprocessable):
    """The stored bytes' SHA-256 is not the one the client declared."""

    code = "checksum_mismatch"


def _check_sha256(record: FileRecord, computed: str | None, head: ObjectHead, ctx: UploadContext) -> None:
    """The copy's SHA-256, computed by S3, against the declared one: a mismatch deletes both copies
    (nothing is stored) and is a 422 checksum_mismatch. S3 has already refused other bytes on upload
    (the POST's x-amz-checksum-sha256, each part's); this catches a multipart upload's whole file.
    A store that computes no SHA-256 (the local stack's SeaweedFS, see docs/uploads.md) is logged."""
    if record.sha256 is None:
        return
    if computed is None:
        logger.warning(
            "the S3 store computed no SHA-256 for the copy: the declared sha256 is not verified", file_id=record.file_id
        )
        return
    if computed == record.sha256:
        return
    exc = ChecksumMismatch(
        "the uploaded bytes do not have the declared sha256",
        details={"declaredSha256": record.sha256, "actualSha256": computed},
    )
    ctx.files.record_refusal(record, UploadRefusal.of(exc.code, exc.message, exc.details, head.etag))
    ctx.bucket.delete_objects([record.object_key, staging_key(record.object_key)])
    raise exc


def join_parts(record: FileRecord, ctx: UploadContext) -> None:
    """Join a multipart upload's parts into the staging object, once they are all there, each of its
    size (every part but the last part_size_bytes, the total the declared size): 409 with the missing
    part numbers while some are missing, 422 (and the upload aborted) when their sizes are wrong. An
    upload already joined (or aborted) leaves whatever the staging key holds to be verified."""
    assert record.multipart_upload_id is not None and record.part_size_bytes is not None
    staging = staging_key(record.object_key)
    parts = ctx.bucket.list_parts(staging, record.multipart_upload_id)
    if parts is None:
        return
    expected = expected_part_sizes(record.size_bytes, record.part_size_bytes)
    held = {p.part_number: p for p in parts}
    wrong = [p.part_number for p in parts if expected.get(p.part_number) != p.size_bytes]
    if wrong:
        ctx.bucket.abort_multipart(staging, record.multipart_upload_id)
        exc = Unprocessable(
            f"parts {wrong[:20]} do not have their declared sizes; start the upload again",
            details={"wrongParts": ",".join(map(str, wrong[:100]))},
        )
        ctx.files.record_refusal(record, UploadRefusal.of(exc.code, exc.message, exc.details, None))
        raise exc
    missing = [n for n in expected if n not in held]
    if missing:
        raise Conflict(
            f"{len(missing)} of {len(expected)} parts have not been uploaded yet",
            details={"missingPartNumbers": missing[:1000]},
        )
    joined = [
        held[n] if held[n].sha256 or n not in record.part_sha256 else replace(held[n], sha256=record.part_sha256[n])
        for n in expected
    ]
    ctx.bucket.complete_multipart(staging, record.multipart_upload_id, joined)


def expected_part_sizes(size_bytes: int, part_size: int) -> dict[int, int]:
    """Part number -> its size: every part part_size, the last what remains."""
    count = -(-size_bytes // part_size)
    return {n: part_size if n < count else size_bytes - part_size * (count - 1) for n in range(1, count + 1)}


def _verified(record: FileRecord, key: str, head: ObjectHead, ctx: UploadContext) -> ImageInfo:
    """The object at key, checked against the record and the tenant's limits; refused bytes are
    deleted once their refusal is recorded on the pending file. ObjectChanged when the object was
    replaced or deleted while it was read."""
    try:
        info = _inspect(key, head, ctx.bucket, record)
        if info is None:
            raise Unprocessable(
                f"the uploaded bytes are not an image of an accepted type ({', '.join(ctx.tenant.allowed_types)})"
            )
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
                details={
                    "width": info.width,
                    "height": info.height,
                    "pixels": info.pixels,
                    "maxPixels": ctx.tenant.max_pixels,
                },
            )
        if not info.complete:
            raise Unprocessable(
                "the image is cut short: its data ends before the end of its format's "
                "structure (an interrupted upload?)"
            )
    except Unprocessable as exc:
        # Recorded first: a concurrent completion that then finds the bytes gone answers this refusal.
        # The tenant's `file.refused` webhook event is written with it (one transaction).
        at = int(clock.now_epoch())
        refused = webhook_events.file_refused(
            record.tenant_id, record.user_id, record.file_id, exc.code, exc.message, str(head.etag), at
        )
        ctx.files.record_refusal(
            record, UploadRefusal.of(exc.code, exc.message, exc.details, head.etag), events=[refused], at=at
        )
        ctx.bucket.delete_objects([key])
        raise
    return info


def _after_bytes_gone(record: FileRecord, ctx: UploadContext, etag: str | None, otherwise: Conflict) -> FileRecord:
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
    return inspect_object(
        ObjectSource(lambda start, length: bucket.read_range(key, start, length, etag=head.etag), head.size_bytes)
    )


def _completed_meanwhile(record: FileRecord, ctx: UploadContext) -> FileRecord:
    """The copy found other bytes, or none: another completion may have finished first."""
    current = ctx.files.get_file(record.tenant_id, record.user_id, record.file_id)
    if current is not None and current.status is FileStatus.AVAILABLE:
        return current
    raise Conflict(f"the bytes of file {record.file_id} changed while they were checked; complete again")
