"""Request and response bodies of the File API."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SkipValidation, StrictInt, field_validator

from imagestore.bodies import ApiModel
from imagestore.clock import from_epoch, iso
from imagestore.models.files import FileRecord, FileStatus
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
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=100)
    size_bytes: StrictInt = Field(gt=0)  # a JSON integer: not true, not "12", not 12.0
    # The bytes' SHA-256: S3 refuses other bytes, the file keeps it, and bytes the user already has
    # available are answered at once (duplicate: true, nothing to upload).
    sha256: Sha256 | None = None

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
    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str]
    headers: dict[str, str] = Field(default_factory=dict)
    expires_at: str


class UploadTicket(ApiModel):
    """Where to send the bytes; or, for bytes the user already has (duplicate), that file and no upload."""

    file_id: str
    upload: UploadTarget | None
    max_bytes: int
    duplicate: bool = False
    file: FileView | None = None  # the available file, when duplicate


class ErrorBody(ApiModel):
    code: str
    message: str
    details: dict[str, Any] | None = None


class UploadBatchRequest(ApiModel):
    """Up to 100 files; each is checked on its own (a bad one is answered with its error, not the batch's)."""

    # Validated item by item (uploads.request_uploads), not here: the schema documents each item.
    files: list[SkipValidation[UploadRequest]] = Field(min_length=1, max_length=MAX_BATCH)


class UploadBatchItem(ApiModel):
    """The answer to files[index]: status 201 with a ticket, 200 with a duplicate's ticket (nothing to
    upload), or a 4xx with the error a single requestUpload would have answered."""

    index: int
    status: int
    ticket: UploadTicket | None = None
    error: ErrorBody | None = None


class UploadBatchResult(ApiModel):
    items: list[UploadBatchItem]
    duplicates: int
    failed: int


class CompleteBatchRequest(ApiModel):
    # Ids are short (ULIDs): the bound keeps the answer, which names each id, small.
    file_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=MAX_BATCH)


class CompleteBatchItem(ApiModel):
    """The answer for fileIds[index]: status 200 with the file, or the error a single completeUpload
    would have answered (409 while its bytes have not arrived, 404, 422...)."""

    index: int
    file_id: str
    status: int
    file: FileView | None = None
    error: ErrorBody | None = None


class CompleteBatchResult(ApiModel):
    items: list[CompleteBatchItem]
    failed: int


class MultipartRequest(UploadRequest):
    # Every part but the last has this size (8 MiB unless asked; raised so that there are at most 10,000).
    part_size_bytes: StrictInt | None = Field(default=None, ge=MIN_PART_BYTES, le=5 * 1024 * 1024 * 1024)


class MultipartTicket(ApiModel):
    file_id: str
    part_size_bytes: int
    part_count: int
    max_bytes: int
    checksum: bool  # every part must be signed with its sha256 (the file's sha256 was declared)
    expires_at: str
    duplicate: bool = False
    file: FileView | None = None  # the available file, when duplicate (no upload was started)


class PartToSign(ApiModel):
    part_number: StrictInt = Field(ge=1, le=MAX_PARTS)
    sha256: Sha256 | None = None


class SignPartsRequest(ApiModel):
    parts: list[PartToSign] = Field(min_length=1, max_length=MAX_PARTS_PER_CALL)


class SignedPart(ApiModel):
    part_number: int
    size_bytes: int
    method: Literal["PUT"] = "PUT"
    url: str
    headers: dict[str, str]


class SignedParts(ApiModel):
    file_id: str
    parts: list[SignedPart]
    expires_at: str


class PartView(ApiModel):
    part_number: int
    size_bytes: int
    etag: str
    sha256: str | None = None


class MultipartPartsView(ApiModel):
    """What S3 holds of a multipart upload: a client resuming after a cut sends only missingPartNumbers."""

    file_id: str
    status: str
    part_size_bytes: int
    part_count: int
    parts: list[PartView]
    missing_part_numbers: list[int]


class PartToComplete(ApiModel):
    part_number: StrictInt = Field(ge=1, le=MAX_PARTS)
    etag: str | None = Field(default=None, max_length=200)


class CompleteMultipartRequest(ApiModel):
    """Optional: the parts as the client saw them (ascending, each once); without it, the parts S3 holds."""

    parts: list[PartToComplete] | None = Field(default=None, max_length=MAX_PARTS)


class RefusalView(ApiModel):
    """Why the last uploaded bytes of a pending file were refused: the 422 error its complete answered."""

    code: str
    message: str
    details: dict[str, int | str] = Field(default_factory=dict)


class FileView(ApiModel):
    file_id: str
    filename: str
    content_type: str
    size_bytes: int
    status: str
    retention: str
    width: int | None = None
    height: int | None = None
    created_at: str
    expires_at: str
    hold_count: int
    mobile_upload_id: str | None = None
    download_url: str | None = None
    preview_status: Literal["pending", "ready", "failed"] = "pending"
    previews: dict[str, PreviewView] | None = None  # thumb, screen: when previewStatus is ready
    taken_at: str | None = None
    refusal: RefusalView | None = None  # a pending file whose last uploaded bytes were refused

    @classmethod
    def of(
        cls, record: FileRecord, download_url: str | None = None, previews: dict[str, PreviewView] | None = None
    ) -> FileView:
        return cls(
            file_id=record.file_id,
            filename=record.filename,
            content_type=record.content_type,
            size_bytes=record.size_bytes,
            status=record.status.value,
            retention=record.retention.value,
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
    dpi: float
    verdict: Literal["good", "acceptable", "low"]


class FilePage(ApiModel):
    items: list[FileView]
    next_cursor: str | None


class MobileUploadRequest(ApiModel):
    retention: Literal["session", "extended"] = "session"


class QrCode(ApiModel):
    svg: str
    png_url: str


class MobileUploadCreated(ApiModel):
    mobile_upload_id: str
    token: str
    url: str
    qr: QrCode
    expires_at: str
    retention: str


class MobileUploadView(ApiModel):
    """A mobile upload as the desktop sees it, with the files that arrived."""

    mobile_upload_id: str
    retention: str
    expires_at: str
    revoked: bool
    file_count: int
    max_files: int
    files: list[FileView]


class MobileUploadSummary(ApiModel):
    """A mobile upload as GET /mobile-uploads lists it (its files: GET /mobile-uploads/{mobileUploadId})."""

    mobile_upload_id: str
    retention: str
    created_at: str
    expires_at: str
    revoked: bool
    file_count: int
    max_files: int


class MobileUploadPage(ApiModel):
    items: list[MobileUploadSummary]
    next_cursor: str | None


class MobileUploadSession(ApiModel):
    """What the phone's page needs: the limits, the link's expiry and what it has uploaded."""

    mobile_upload_id: str
    retention: str
    expires_at: str
    max_files: int
    max_bytes: int
    file_count: int
    uploaded_bytes: int
    max_file_bytes: int
    allowed_types: list[str]
    files: list[FileView]
