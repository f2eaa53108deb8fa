"""Multipart uploads: large files and weak networks send parts that S3 keeps; after a cut, a client
lists what S3 holds and sends only the missing parts.

The declared size, type and key hold as for a presigned POST: the upload is started by the server
(key = the file's staging key, type = the declared one), each part URL is signed for its exact
Content-Length (every part part_size_bytes, the last what remains: no part can make the object larger
than declared) and, when the file's sha256 was declared, for the part's own SHA-256. Completion
(uploads.complete_upload) joins the parts once all are there and then checks the object as any upload.
"""

from __future__ import annotations

from itertools import pairwise

from file_service.logic.uploads import (
    UploadContext,
    check_declared,
    duplicate_ticket,
    expected_part_sizes,
    find_duplicates,
    new_pending_record,
    pending_due,
)
from file_service.models import (
    MAX_PARTS,
    MultipartPartsView,
    MultipartRequest,
    MultipartTicket,
    PartToComplete,
    PartToSign,
    PartView,
    SignedPart,
    SignedParts,
)
from imagestore.auth import Principal
from imagestore.clock import from_epoch, iso
from imagestore.data.storage import UploadedPart
from imagestore.errors import BadRequest, Conflict
from imagestore.keys import staging_key
from imagestore.models.files import FileRecord, FileStatus

DEFAULT_PART_BYTES = 8 * 1024 * 1024


MAX_CHECKSUMMED_PARTS = 1000  # their sha256s are kept on the file's item (44 bytes each)


def part_size_for(size_bytes: int, asked: int | None, checksum: bool) -> int:
    """The part size: asked (or 8 MiB), raised until the file needs at most 10,000 parts (1,000 with
    checksums)."""
    part_size = asked or DEFAULT_PART_BYTES
    return max(part_size, -(-size_bytes // (MAX_CHECKSUMMED_PARTS if checksum else MAX_PARTS)))


def create_multipart_upload(
    principal: Principal, request: MultipartRequest, ctx: UploadContext, now: int
) -> MultipartTicket:
    """Record a pending file and start its multipart upload; the caller's available file of the same
    sha256 is answered instead (duplicate, no upload started)."""
    check_declared(request, ctx.tenant)
    expires_at = iso(from_epoch(now + ctx.tenant.upload_url_seconds))
    duplicate = find_duplicates(principal, [request], ctx, now).get(request.sha256 or "")
    if duplicate is not None:
        ticket = duplicate_ticket(duplicate, ctx)
        return MultipartTicket(
            file_id=duplicate.file_id,
            part_size_bytes=0,
            part_count=0,
            max_bytes=ticket.max_bytes,
            checksum=duplicate.sha256 is not None,
            expires_at=expires_at,
            duplicate=True,
            file=ticket.file,
        )
    part_size = part_size_for(request.size_bytes, request.part_size_bytes, request.sha256 is not None)
    record = new_pending_record(principal, request, ctx, now, part_size_bytes=part_size)
    upload_id = ctx.bucket.create_multipart(
        staging_key(record.object_key), content_type=record.content_type, checksum=record.sha256 is not None
    )
    record = record.model_copy(update={"multipart_upload_id": upload_id})
    ctx.files.add_pending_file(record, due_at=pending_due(record, ctx, now))
    return MultipartTicket(
        file_id=record.file_id,
        part_size_bytes=part_size,
        part_count=len(expected_part_sizes(record.size_bytes, part_size)),
        max_bytes=ctx.tenant.max_upload_bytes,
        checksum=record.sha256 is not None,
        expires_at=expires_at,
    )


def _open_upload(record: FileRecord) -> tuple[str, int]:
    """The S3 upload id and part size of a pending multipart file (409 once it is complete, 404 for a
    file that is not a multipart upload)."""
    if record.multipart_upload_id is None or record.part_size_bytes is None:
        raise Conflict(f"file {record.file_id} is not a multipart upload")
    if record.status is not FileStatus.PENDING:
        raise Conflict(f"file {record.file_id} is already {record.status.value}")
    return record.multipart_upload_id, record.part_size_bytes


def sign_parts(record: FileRecord, parts: list[PartToSign], ctx: UploadContext, now: int) -> SignedParts:
    """Presigned UploadPart URLs for these part numbers, each signed for the part's exact size (and its
    sha256, required when the file's was declared). A part number out of the file's range, or given
    twice, is a 400."""
    upload_id, part_size = _open_upload(record)
    sizes = expected_part_sizes(record.size_bytes, part_size)
    numbers = [p.part_number for p in parts]
    outside = [n for n in numbers if n not in sizes]
    if outside:
        raise BadRequest(f"part numbers {outside[:20]} are outside 1..{len(sizes)}", details={"partCount": len(sizes)})
    if len(set(numbers)) != len(numbers):
        raise BadRequest("a part number is asked twice")
    if record.sha256 is not None and any(p.sha256 is None for p in parts):
        raise BadRequest("this upload declared the file's sha256: every part needs its own sha256")
    if record.sha256 is None and any(p.sha256 is not None for p in parts):
        raise BadRequest("part sha256s need the file's sha256 declared when the upload was created")
    if record.sha256 is not None:
        ctx.files.record_part_checksums(record, {p.part_number: p.sha256 for p in parts if p.sha256 is not None})
    expires_in = ctx.tenant.upload_url_seconds
    staging = staging_key(record.object_key)
    signed = [
        ctx.bucket.presign_part(
            staging, upload_id, p.part_number, size_bytes=sizes[p.part_number], sha256=p.sha256, expires_in=expires_in
        )
        for p in parts
    ]
    return SignedParts(
        file_id=record.file_id,
        expires_at=iso(from_epoch(now + expires_in)),
        parts=[
            SignedPart(part_number=s.part_number, size_bytes=sizes[s.part_number], url=s.url, headers=s.headers)
            for s in signed
        ],
    )


def list_parts(record: FileRecord, ctx: UploadContext) -> MultipartPartsView:
    """The parts S3 holds of the upload and the part numbers still missing (none once it is complete)."""
    if record.multipart_upload_id is None or record.part_size_bytes is None:
        raise Conflict(f"file {record.file_id} is not a multipart upload")
    sizes = expected_part_sizes(record.size_bytes, record.part_size_bytes)
    held: list[UploadedPart] = []
    if record.status is FileStatus.PENDING:
        held = ctx.bucket.list_parts(staging_key(record.object_key), record.multipart_upload_id) or []
    numbers = {p.part_number for p in held if sizes.get(p.part_number) == p.size_bytes}
    missing = [] if record.status is FileStatus.AVAILABLE else [n for n in sizes if n not in numbers]
    return MultipartPartsView(
        file_id=record.file_id,
        status=record.status,
        part_size_bytes=record.part_size_bytes,
        part_count=len(sizes),
        missing_part_numbers=missing,
        parts=[
            PartView(part_number=p.part_number, size_bytes=p.size_bytes, etag=p.etag, sha256=p.sha256) for p in held
        ],
    )


def check_part_list(record: FileRecord, parts: list[PartToComplete] | None) -> None:
    """A part list the client sends with its completion: ascending, each part once, every part of the
    file (as S3's InvalidPartOrder and InvalidPart): a 400 otherwise. The parts S3 holds are joined."""
    if parts is None:
        return
    _, part_size = _open_upload(record)
    numbers = [p.part_number for p in parts]
    if any(b <= a for a, b in pairwise(numbers)):
        raise BadRequest(
            "parts must be listed in ascending part number order, each once",
            details={"partNumbers": ",".join(map(str, numbers[:100]))},
        )
    expected = list(expected_part_sizes(record.size_bytes, part_size))
    if numbers != expected:
        raise BadRequest(
            f"the upload has parts 1..{len(expected)}; the list names others", details={"partCount": len(expected)}
        )


def abort(record: FileRecord, ctx: UploadContext) -> None:
    """Abort the S3 upload (its parts are freed) and forget the pending file."""
    upload_id, _ = _open_upload(record)
    ctx.bucket.abort_multipart(staging_key(record.object_key), upload_id)
    ctx.files.delete_pending_file(record)
