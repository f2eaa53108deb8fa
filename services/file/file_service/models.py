"""Request and response bodies of the File API."""

from __future__ import annotations

import unicodedata
from typing import Literal

from pydantic import Field, StrictInt, field_validator

from imagestore.bodies import ApiModel
from imagestore.clock import from_epoch, iso
from imagestore.models.files import FileRecord, FileStatus
from imagestore.preview_views import PreviewView


class UploadRequest(ApiModel):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=100)
    size_bytes: StrictInt = Field(gt=0)  # a JSON integer: not true, not "12", not 12.0

    @field_validator("filename")
    @classmethod
    def _printable(cls, value: str) -> str:
        """No path separators, no control (Cc: C0, DEL, C1) or format (Cf: bidi overrides, zero-width)
        characters: a filename is shown to people and sent back in Content-Disposition."""
        if any(c in "/\\" or unicodedata.category(c) in ("Cc", "Cf") for c in value):
            raise ValueError("filename must not contain control or format characters or path separators")
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
    file_id: str
    upload: UploadTarget
    max_bytes: int


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
    def of(cls, record: FileRecord, download_url: str | None = None,
           previews: dict[str, PreviewView] | None = None) -> FileView:
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
            refusal=(RefusalView(code=record.refusal.code, message=record.refusal.message,
                                 details=dict(record.refusal.details))
                     if record.refusal is not None and record.status is FileStatus.PENDING else None),
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
