"""The file entity: one uploaded image and what keeps it."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from imagestore import keys


class FileStatus(StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    DELETING = "deleting"  # the sweep or a logout is removing it: gone for readers, no hold can land


class PreviewStatus(StrEnum):
    PENDING = "pending"  # not made yet (also every file completed before previews existed)
    READY = "ready"
    FAILED = "failed"


class PreviewRef(BaseModel):
    """One stored preview of a file (its key is keys.preview_key(object_key, name))."""

    model_config = ConfigDict(frozen=True)

    width: int
    height: int
    content_type: str


MAX_REFUSAL_MESSAGE = 500  # characters of a refusal's message kept on the file item
MAX_REFUSAL_DETAILS = 10  # entries of a refusal's details kept on the file item


class UploadRefusal(BaseModel):
    """Why the uploaded bytes of a pending file were refused (422): the error the client is answered
    on complete once those bytes are gone (a concurrent completion refused and deleted them), and
    the ETag of the refused object (another ETag is a new upload, verified on its own).

    Kept small on the file item: the message is cut to MAX_REFUSAL_MESSAGE characters, details keep
    at most MAX_REFUSAL_DETAILS scalar entries (integers and strings; anything else as its text)."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    details: dict[str, int | str] = {}
    etag: str | None = None

    @classmethod
    def of(cls, code: str, message: str, details: dict[str, object], etag: str | None) -> UploadRefusal:
        kept: dict[str, int | str] = {}
        for name, value in list(details.items())[:MAX_REFUSAL_DETAILS]:
            kept[str(name)[:100]] = (
                value if isinstance(value, int) and not isinstance(value, bool) else str(value)[:200]
            )
        return cls(code=code, message=message[:MAX_REFUSAL_MESSAGE], details=kept, etag=etag)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            item["details"] = dict(self.details)
        if self.etag is not None:
            item["etag"] = self.etag
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> UploadRefusal:
        return cls(
            code=item["code"],
            message=item["message"],
            etag=item.get("etag"),
            details={
                name: int(value) if isinstance(value, Decimal) else str(value)
                for name, value in (item.get("details") or {}).items()
            },
        )


class Retention(StrEnum):
    SESSION = "session"
    EXTENDED = "extended"


class FileRecord(BaseModel):
    """An image: its bytes live in S3 under object_key; this is its metadata.

    The file's own retention (its browser session, or an extended mobile upload) ends at
    expires_at. Other holders (projects, copies, cart items, orders) are counted in hold_count;
    the file may be deleted only when hold_count is 0 and expires_at has passed.

    A pending file whose uploaded bytes were refused carries the refusal (until bytes are accepted).
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "file"

    tenant_id: str
    user_id: str
    file_id: str
    session_id: str
    filename: str
    content_type: str
    size_bytes: int
    status: FileStatus = FileStatus.PENDING
    retention: Retention = Retention.SESSION
    created_at: int
    expires_at: int
    completed_at: int | None = None
    width: int | None = None
    height: int | None = None
    hold_count: int = 0
    mobile_upload_id: str | None = None
    # Written by the preview function: width and height above then become the displayed size
    # (EXIF orientation applied), taken_at the EXIF capture time (ISO 8601).
    preview_status: PreviewStatus = PreviewStatus.PENDING
    previews: dict[str, PreviewRef] = {}
    taken_at: str | None = None
    refusal: UploadRefusal | None = None
    # The SHA-256 the client declared (base64, as S3's x-amz-checksum-sha256): S3 verifies the bytes
    # against it; an available file keeps it (duplicates are found by it). Declared none: the one S3
    # computed for the completion's copy, where the store computes one (S3 does, SeaweedFS does not).
    sha256: str | None = None
    # A multipart upload (POST /multipart-uploads): S3's upload id and the size of every part but the last.
    multipart_upload_id: str | None = None
    part_size_bytes: int | None = None
    # The sha256 each part was signed with (part number -> base64): CompleteMultipartUpload names them.
    part_sha256: dict[int, str] = {}

    @property
    def object_key(self) -> str:
        return keys.object_key(self.tenant_id, self.user_id, self.file_id)

    @property
    def key(self) -> dict[str, str]:
        return keys.file_key(self.tenant_id, self.user_id, self.file_id)

    def is_expired(self, now_epoch: float) -> bool:
        """Gone for every reader: being deleted, or its own retention is over and nothing holds it."""
        return self.status is FileStatus.DELETING or (self.hold_count == 0 and self.expires_at <= now_epoch)

    def to_item(self, expiry_shards: int) -> dict[str, Any]:
        key = self.key
        item: dict[str, Any] = {
            **key,
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "userId": self.user_id,
            "fileId": self.file_id,
            "sessionId": self.session_id,
            "filename": self.filename,
            "contentType": self.content_type,
            "sizeBytes": self.size_bytes,
            "status": self.status.value,
            "retention": self.retention.value,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
            "holdCount": self.hold_count,
        }
        for name, value in (
            ("completedAt", self.completed_at),
            ("width", self.width),
            ("height", self.height),
            ("mobileUploadId", self.mobile_upload_id),
            ("takenAt", self.taken_at),
            ("sha256", self.sha256),
            ("multipartUploadId", self.multipart_upload_id),
            ("partSizeBytes", self.part_size_bytes),
        ):
            if value is not None:
                item[name] = value
        if self.preview_status is not PreviewStatus.PENDING:
            item["previewStatus"] = self.preview_status.value
        if self.previews:
            item["previews"] = previews_item(self.previews)
        if self.mobile_upload_id is not None:
            # Listed under its mobile upload in gsi1 (GET /mobile-uploads/{id}: one Query).
            item["gsi1pk"] = keys.mobile_upload_files(self.tenant_id, self.mobile_upload_id)
            item["gsi1sk"] = keys.file_sk(self.file_id)
        if self.refusal is not None:
            item["refusal"] = self.refusal.to_item()
        if self.multipart_upload_id is not None and self.sha256 is not None:
            item["partSha256"] = {str(n): v for n, v in self.part_sha256.items()}
        if self.hold_count == 0:
            item.update(expiry_attributes(key, self.expires_at, expiry_shards))
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> FileRecord:
        return cls(
            tenant_id=item["tenantId"],
            user_id=item["userId"],
            file_id=item["fileId"],
            session_id=item["sessionId"],
            filename=item["filename"],
            content_type=item["contentType"],
            size_bytes=int(item["sizeBytes"]),
            status=FileStatus(item["status"]),
            retention=Retention(item.get("retention", "session")),
            created_at=int(item["createdAt"]),
            expires_at=int(item["expiresAt"]),
            completed_at=int(item["completedAt"]) if "completedAt" in item else None,
            width=int(item["width"]) if "width" in item else None,
            height=int(item["height"]) if "height" in item else None,
            hold_count=int(item.get("holdCount", 0)),
            mobile_upload_id=item.get("mobileUploadId"),
            preview_status=PreviewStatus(item.get("previewStatus", PreviewStatus.PENDING.value)),
            previews={
                name: PreviewRef(width=int(p["width"]), height=int(p["height"]), content_type=p["contentType"])
                for name, p in (item.get("previews") or {}).items()
            },
            taken_at=item.get("takenAt"),
            refusal=UploadRefusal.from_item(item["refusal"]) if "refusal" in item else None,
            sha256=item.get("sha256"),
            multipart_upload_id=item.get("multipartUploadId"),
            part_size_bytes=int(item["partSizeBytes"]) if "partSizeBytes" in item else None,
            part_sha256={int(n): str(v) for n, v in (item.get("partSha256") or {}).items()},
        )


def sha256_hex(sha256_base64: str) -> str:
    """The hex form of a base64 SHA-256 (keys are case-sensitive; base64 is not safe in every key)."""
    import base64

    return base64.b64decode(sha256_base64).hex()


def previews_item(previews: dict[str, PreviewRef]) -> dict[str, dict[str, Any]]:
    """The `previews` attribute of a file item: {name: {width, height, contentType}}."""
    return {name: {"width": p.width, "height": p.height, "contentType": p.content_type} for name, p in previews.items()}


TTL_GRACE_SECONDS = 7 * 86400
PENDING_GRACE_SECONDS = 3600  # a pending upload is removed this long after its upload URL expired


# A requested upload that is never completed waits for its own retention's end when that comes at most
# this long after pending_deadline (every session upload), so the index is written twice in a file's life.
ABANDONED_WAIT_SECONDS = 86400


def pending_deadline(created_at: int, upload_url_seconds: int) -> int:
    """The earliest time a requested upload that was never completed may be removed."""
    return created_at + upload_url_seconds + PENDING_GRACE_SECONDS


def abandoned_due(created_at: int, upload_url_seconds: int, expires_at: int, *, multipart: bool = False) -> int:
    """When the sweep removes a requested upload that was never completed, and where the expiry index
    files it when it is requested: at its retention's end if that comes within ABANDONED_WAIT_SECONDS
    of pending_deadline (a session upload: completing it changes nothing in the index, and the sweep
    never refiles it, so its index entry is written once and deleted once), otherwise at
    pending_deadline (an extended mobile upload: the sweep refiles it under its retention once it is
    completed). A multipart upload keeps the deadline whatever its retention: its parts are bytes S3
    keeps (and bills) until the upload is aborted."""
    deadline = pending_deadline(created_at, upload_url_seconds)
    if multipart:
        return min(deadline, expires_at)
    return expires_at if expires_at - deadline <= ABANDONED_WAIT_SECONDS else deadline


def expiry_attributes(key: dict[str, str], expires_at: int, shards: int) -> dict[str, Any]:
    """The expiry-index entry and TTL backstop of an item that expires at expires_at.

    TTL is set a week after the sweep's due time: the sweep deletes first in normal operation,
    TTL only catches what the sweep missed (its stream REMOVE records then clean S3).
    """
    return {
        "xpk": keys.expiry_shard(key["pk"], key["sk"], shards),
        "xsk": keys.expiry_sort(expires_at, key["pk"], key["sk"]),
        "ttl": expires_at + TTL_GRACE_SECONDS,
    }
