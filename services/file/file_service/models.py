"""Request and response bodies of the File API."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SkipValidation, StrictInt, field_validator

from imagestore.bodies import ApiModel, Timestamp
from imagestore.clock import from_epoch, iso
from imagestore.models.files import FileRecord, FileStatus, Retention
from imagestore.preview_views import PreviewView

MAX_BATCH = 100  # files in one requestUploads or completeUploads
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part (but the last)
MAX_PARTS = 10_000  # S3's most parts in one multipart upload
MAX_PARTS_PER_CALL = 100  # part URLs signed by one signMultipartParts


def _sha256_base64(value: str) -> str:
    """A SHA-256 as S3's x-amz-checksum-sha256: the 32 bytes in standard base64 (44 characters)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("sha256 must be base64 (as x-amz-checksum-sha256)") from None
    if len(raw) != 32 or base64.b64encode(raw).decode() != value:
        raise ValueError("sha256 must be the 32 bytes of a SHA-256 in base64 (44 characters)")
    return value


Sha256 = Annotated[
    str,
    Field(min_length=44, max_length=44, description="SHA-256 in base64, as x-amz-checksum-sha256"),
    AfterValidator(_sha256_base64),
]

_NOT_IN_FILENAMES = frozenset({"Cc", "Cf", "Zl", "Zp"})


class UploadRequest(ApiModel):
    filename: str = Field(
        min_length=1,
        max_length=255,
        description="The file's name as the user knows it (no path separators or control characters); "
        "shown back and used in the download's Content-Disposition",
    )
    content_type: str = Field(
        min_length=1,
        max_length=100,
        description="The image type the bytes will be (`image/jpeg`, `image/png`, `image/heic`...); the "
        "tenant's accepted types only (415 otherwise); the bytes are checked against it at completion",
    )
    # a JSON integer: not true, not "12", not 12.0
    size_bytes: StrictInt = Field(
        gt=0, description="The exact size of the bytes to upload; the presigned policy allows no other size"
    )
    # The bytes' SHA-256: S3 refuses other bytes, the file keeps it, and bytes the user already has
    # available are answered at once (duplicate: true, nothing to upload).
    sha256: Sha256 | None = Field(
        default=None,
        description="The bytes' SHA-256 in base64 (as x-amz-checksum-sha256): S3 refuses other bytes, and "
        "bytes the caller already has available are answered at once (`duplicate`, nothing to upload)",
    )

    @field_validator("filename")
    @classmethod
    def _printable(cls, value: str) -> str:
        """No path separators, no control (Cc: C0, DEL, C1), format (Cf: bidi overrides, zero-width) or
        line and paragraph separator (Zl U+2028, Zp U+2029: line breaks in JavaScript and in what shows
        the name) characters: a filename is shown to people and sent back in Content-Disposition."""
        if any(c in "/\\" or unicodedata.category(c) in _NOT_IN_FILENAMES for c in value):
            raise ValueError(
                "filename must not contain control, format or line separator characters or path separators"
            )
        if value.strip() in ("", ".", ".."):
            raise ValueError("filename must name a file")
        return value

    @field_validator("content_type")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class UploadTarget(ApiModel):
    """A presigned S3 POST: a multipart/form-data request to url with fields, then the file last."""

    method: Literal["POST"] = Field(default="POST", description="The HTTP method: always POST (a form upload)")
    url: str = Field(description="Where to send the form (the image bucket)")
    fields: dict[str, str] = Field(
        description="Form fields to send as they are, before the `file` field (key, policy, signature...)"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers to send (usually none)")
    expires_at: Timestamp = Field(description="When the presigned POST stops being accepted")


class UploadTicket(ApiModel):
    """Where to send the bytes; or, for bytes the user already has (duplicate), that file and no upload."""

    file_id: str = Field(description="The new file's id (or, when duplicate, the available file's)")
    upload: UploadTarget | None = Field(description="Where to send the bytes; null when duplicate")
    max_bytes: int = Field(description="The largest size the upload may have (the declared size)")
    duplicate: bool = Field(
        default=False, description="True when the caller already has an available file of this sha256: no upload"
    )
    file: FileView | None = Field(default=None, description="The available file, when duplicate")


class ErrorBody(ApiModel):
    """One item's error in a batch answer: what a single request would have answered as `error`."""

    code: str = Field(description="Stable, machine-readable error code (`not_found`, `unsupported_media_type`...)")
    message: str = Field(description="For people; may change")
    details: dict[str, Any] | None = Field(default=None, description="Extra facts about the error, when any")


class UploadBatchRequest(ApiModel):
    """Up to 100 files; each is checked on its own (a bad one is answered with its error, not the batch's)."""

    # Validated item by item (uploads.request_uploads), not here: the schema documents each item.
    files: list[SkipValidation[UploadRequest]] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"The files to upload (1 to {MAX_BATCH}), each as requestUpload"
    )


class UploadBatchItem(ApiModel):
    """The answer to files[index]: status 201 with a ticket, 200 with a duplicate's ticket (nothing to
    upload), or a 4xx with the error a single requestUpload would have answered."""

    index: int = Field(description="The position of the file in the request's `files`")
    status: int = Field(description="The HTTP status a single requestUpload would have answered")
    ticket: UploadTicket | None = Field(default=None, description="The upload ticket, when status is 200 or 201")
    error: ErrorBody | None = Field(default=None, description="The error, when status is 4xx")


class UploadBatchResult(ApiModel):
    items: list[UploadBatchItem] = Field(description="One answer per requested file, in the request's order")
    duplicates: int = Field(description="How many files the caller already had (nothing to upload)")
    failed: int = Field(description="How many files were refused (status 4xx)")


class CompleteBatchRequest(ApiModel):
    # Ids are short (ULIDs): the bound keeps the answer, which names each id, small.
    file_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"The files to complete (1 to {MAX_BATCH} ids)"
    )


class CompleteBatchItem(ApiModel):
    """The answer for fileIds[index]: status 200 with the file, or the error a single completeUpload
    would have answered (409 while its bytes have not arrived, 404, 422...)."""

    index: int = Field(description="The position of the id in the request's `fileIds`")
    file_id: str = Field(description="The file's id")
    status: int = Field(description="The HTTP status a single completeUpload would have answered")
    file: FileView | None = Field(default=None, description="The file, when status is 200")
    error: ErrorBody | None = Field(default=None, description="The error, when status is not 200")


class CompleteBatchResult(ApiModel):
    items: list[CompleteBatchItem] = Field(description="One answer per id, in the request's order")
    failed: int = Field(description="How many files were not completed (status not 200)")


class MultipartRequest(UploadRequest):
    # Every part but the last has this size (8 MiB unless asked; raised so that there are at most 10,000).
    part_size_bytes: StrictInt | None = Field(
        default=None,
        ge=MIN_PART_BYTES,
        le=5 * 1024 * 1024 * 1024,
        description="The size of every part but the last (8 MiB when absent; raised so that there are at most "
        f"{MAX_PARTS:,} parts)",
    )


class MultipartTicket(ApiModel):
    file_id: str = Field(description="The new file's id (or, when duplicate, the available file's)")
    part_size_bytes: int = Field(description="The size of every part but the last")
    part_count: int = Field(description="How many parts the file has")
    max_bytes: int = Field(description="The file's declared size")
    # every part must be signed with its sha256 (the file's sha256 was declared)
    checksum: bool = Field(description="True when each part must be signed with its own sha256 (sha256 was declared)")
    expires_at: Timestamp = Field(description="When the upload must be complete; its parts are aborted after")
    duplicate: bool = Field(
        default=False, description="True when the caller already has an available file of this sha256: no upload"
    )
    file: FileView | None = Field(default=None, description="The available file, when duplicate")


class PartToSign(ApiModel):
    part_number: StrictInt = Field(ge=1, le=MAX_PARTS, description="The part's number, from 1")
    sha256: Sha256 | None = Field(
        default=None, description="The part's SHA-256 in base64; required when the ticket says `checksum`"
    )


class SignPartsRequest(ApiModel):
    parts: list[PartToSign] = Field(
        min_length=1, max_length=MAX_PARTS_PER_CALL, description=f"The parts to sign (1 to {MAX_PARTS_PER_CALL})"
    )


class SignedPart(ApiModel):
    part_number: int = Field(description="The part's number")
    size_bytes: int = Field(description="The exact size the part must have")
    method: Literal["PUT"] = Field(default="PUT", description="The HTTP method: always PUT")
    url: str = Field(description="The presigned URL to PUT the part's bytes to")
    headers: dict[str, str] = Field(description="Headers to send with the PUT, as they are")


class SignedParts(ApiModel):
    file_id: str = Field(description="The file's id")
    parts: list[SignedPart] = Field(description="One presigned PUT per requested part")
    expires_at: Timestamp = Field(description="When these URLs stop being accepted")


class PartView(ApiModel):
    part_number: int = Field(description="The part's number")
    size_bytes: int = Field(description="The size S3 holds for the part")
    etag: str = Field(description="The part's ETag as S3 answered it")
    sha256: str | None = Field(default=None, description="The part's SHA-256 in base64, when it was signed with one")


class MultipartPartsView(ApiModel):
    """What S3 holds of a multipart upload: a client resuming after a cut sends only missingPartNumbers."""

    file_id: str = Field(description="The file's id")
    status: FileStatus = Field(description="The file's status (pending until completed)")
    part_size_bytes: int = Field(description="The size of every part but the last")
    part_count: int = Field(description="How many parts the file has")
    parts: list[PartView] = Field(description="The parts S3 holds, ascending")
    missing_part_numbers: list[int] = Field(description="The parts still to upload, ascending")


class PartToComplete(ApiModel):
    part_number: StrictInt = Field(ge=1, le=MAX_PARTS, description="The part's number")
    etag: str | None = Field(
        default=None, max_length=200, description="The part's ETag as the PUT answered it (checked when given)"
    )


class CompleteMultipartRequest(ApiModel):
    """Optional: the parts as the client saw them (ascending, each once); without it, the parts S3 holds."""

    parts: list[PartToComplete] | None = Field(
        default=None, max_length=MAX_PARTS, description="Every part, ascending; the parts S3 holds when absent"
    )


class RefusalView(ApiModel):
    """Why the last uploaded bytes of a pending file were refused: the 422 error its complete answered."""

    code: str = Field(description="The 422's error code (`unprocessable`...)")
    message: str = Field(description="Why the bytes were refused, for people")
    details: dict[str, int | str] = Field(
        default_factory=dict, description="Extra facts (the limit that was passed...)"
    )


class FileView(ApiModel):
    file_id: str = Field(description="The file's id")
    filename: str = Field(description="The name it was uploaded with")
    content_type: str = Field(description="Its image type")
    size_bytes: int = Field(description="Its size in bytes (the declared size until it is available)")
    status: FileStatus = Field(
        description="`pending` until its bytes are verified, then `available`; `deleting` while it is being removed"
    )
    retention: Retention = Field(
        description="How long it is kept: `session` (the browser session's retention) or `extended`"
    )
    width: int | None = Field(default=None, description="Its width in pixels, once available")
    height: int | None = Field(default=None, description="Its height in pixels, once available")
    created_at: Timestamp = Field(description="When it was requested")
    expires_at: Timestamp = Field(description="When it is deleted, unless a project, cart item or order holds it")
    hold_count: int = Field(description="How many projects, share copies, cart items and orders hold it")
    mobile_upload_id: str | None = Field(default=None, description="The mobile upload it came from, if any")
    download_url: str | None = Field(
        default=None, description="A short-lived presigned GET of the bytes, when available"
    )
    preview_status: Literal["pending", "ready", "failed"] = Field(
        default="pending", description="Whether its previews are made"
    )
    # thumb, screen: when previewStatus is ready
    previews: dict[str, PreviewView] | None = Field(
        default=None, description="Its previews by name (`thumb`, `screen`), when previewStatus is ready"
    )
    taken_at: str | None = Field(
        default=None,
        description="When the photo was taken, as its EXIF says: ISO 8601 local time, with the UTC offset "
        "when EXIF records one (so not always an RFC 3339 date-time)",
    )
    # a pending file whose last uploaded bytes were refused
    refusal: RefusalView | None = Field(
        default=None, description="Why its last uploaded bytes were refused (a pending file), if they were"
    )

    @classmethod
    def of(
        cls, record: FileRecord, download_url: str | None = None, previews: dict[str, PreviewView] | None = None
    ) -> FileView:
        return cls(
            file_id=record.file_id,
            filename=record.filename,
            content_type=record.content_type,
            size_bytes=record.size_bytes,
            status=record.status,
            retention=record.retention,
            width=record.width,
            height=record.height,
            created_at=iso(from_epoch(record.created_at)),
            expires_at=iso(from_epoch(record.expires_at)),
            hold_count=record.hold_count,
            mobile_upload_id=record.mobile_upload_id,
            download_url=download_url,
            preview_status=record.preview_status.value,
            previews=previews,
            taken_at=record.taken_at,
            refusal=(
                RefusalView(
                    code=record.refusal.code, message=record.refusal.message, details=dict(record.refusal.details)
                )
                if record.refusal is not None and record.status is FileStatus.PENDING
                else None
            ),
        )


class PrintCheckView(ApiModel):
    dpi: float = Field(description="The effective dots per inch of the file's pixels at that size")
    verdict: Literal["good", "acceptable", "low"] = Field(description="The DPI against the tenant's thresholds")


class FilePage(ApiModel):
    items: list[FileView] = Field(description="This page of files")
    next_cursor: str | None = Field(description="Send as `cursor` for the next page; null on the last")


class MobileUploadRequest(ApiModel):
    retention: Literal["session", "extended"] = Field(
        default="session",
        description="How long its files are kept: the desktop's session (`session`) or the tenant's extended "
        "retention (`extended`)",
    )


class QrCode(ApiModel):
    """The QR code of `url`, ready to show."""

    svg: str = Field(description="The QR code as an inline `<svg>` element")
    data_url: str = Field(
        description="The QR code as a `data:image/svg+xml` URL: the `src` of an `<img>`, as it is (it carries "
        "the token: show it, do not log it)"
    )


class MobileUploadCreated(ApiModel):
    mobile_upload_id: str = Field(description="The mobile upload's id")
    token: str = Field(
        description="The phone's capability token (a secret, shown only here): the bearer token of its uploads"
    )
    url: str = Field(description="The page the phone opens, with the token in its fragment")
    qr: QrCode = Field(description="The QR code of `url`")
    expires_at: Timestamp = Field(description="When the link stops accepting uploads")
    retention: Retention = Field(description="How long its files are kept")


class MobileUploadView(ApiModel):
    """A mobile upload as the desktop sees it, with the files that arrived."""

    mobile_upload_id: str = Field(description="The mobile upload's id")
    retention: Retention = Field(description="How long its files are kept")
    expires_at: Timestamp = Field(description="When the link stops accepting uploads")
    revoked: bool = Field(description="True once revoked: the phone can upload nothing more")
    file_count: int = Field(description="How many files the phone has uploaded")
    max_files: int = Field(description="The most files it accepts")
    files: list[FileView] = Field(description="The files that arrived")


class MobileUploadSummary(ApiModel):
    """A mobile upload as GET /mobile-uploads lists it (its files: GET /mobile-uploads/{mobileUploadId})."""

    mobile_upload_id: str = Field(description="The mobile upload's id")
    retention: Retention = Field(description="How long its files are kept")
    created_at: Timestamp = Field(description="When it was opened")
    expires_at: Timestamp = Field(description="When the link stops accepting uploads")
    revoked: bool = Field(description="True once revoked")
    file_count: int = Field(description="How many files the phone has uploaded")
    max_files: int = Field(description="The most files it accepts")


class MobileUploadPage(ApiModel):
    items: list[MobileUploadSummary] = Field(description="This page of mobile uploads, newest first")
    next_cursor: str | None = Field(description="Send as `cursor` for the next page; null on the last")


class MobileUploadSession(ApiModel):
    """What the phone's page needs: the limits, the link's expiry and what it has uploaded."""

    mobile_upload_id: str = Field(description="The mobile upload's id")
    retention: Retention = Field(description="How long its files are kept")
    expires_at: Timestamp = Field(description="When the link stops accepting uploads")
    max_files: int = Field(description="The most files it accepts")
    max_bytes: int = Field(description="The most bytes it accepts in all")
    file_count: int = Field(description="How many files have been uploaded")
    uploaded_bytes: int = Field(description="How many bytes have been uploaded in all")
    max_file_bytes: int = Field(description="The largest file the tenant accepts")
    allowed_types: list[str] = Field(description="The image types the tenant accepts")
    files: list[FileView] = Field(description="The files uploaded so far")
