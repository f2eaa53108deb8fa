"""Mobile upload rules: the desktop opens a link for the phone, the phone uploads within its limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from file_service.logic.views import view as file_view
from file_service.models import (
    FileView,
    MobileUploadCreated,
    MobileUploadPage,
    MobileUploadSession,
    MobileUploadSummary,
    MobileUploadView,
    QrCode,
)
from imagestore import ids
from imagestore.auth import MOBILE_UPLOAD_SCOPE, Principal
from imagestore.clock import from_epoch, iso
from imagestore.config import TenantSettings, link_from_template
from imagestore.data.mobile_uploads import MobileUploadStore
from imagestore.data.storage import ImageBucket
from imagestore.errors import (
    ConditionFailed,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from imagestore.models.files import FileRecord, Retention
from imagestore.models.mobile_uploads import MobileUploadRecord, mobile_upload_token

# The stage's own page (the mobilePage function, services/file/web/mobile), at the stage's public address.
DEFAULT_PAGE = "{public_base_url}/mobile#token={token}"


class MobileUploadFull(Conflict):
    """The mobile upload has taken its maximum number of files."""

    code = "mobile_upload_full"


@dataclass(frozen=True)
class MobileUploadContext:
    """What the mobile upload rules work with."""

    tenant: TenantSettings
    store: MobileUploadStore
    bucket: ImageBucket
    public_base_url: str


def page_url(tenant: TenantSettings, public_base_url: str, token: str) -> str:
    """The page the QR code opens: the tenant's template, else the stage's own page.
    The token travels in the fragment, which browsers never send to a server."""
    return link_from_template(tenant.mobile_upload_url_template or DEFAULT_PAGE, public_base_url, token)


def qr_matrix(url: str) -> Any:
    """The QR code of url (a segno.QRCode: error correction M)."""
    import segno  # here: only opening a mobile upload draws QR codes (segno loads xml and urllib)

    return segno.make(url, error="m")


def qr_code(url: str) -> QrCode:
    """The QR code of url as an inline <svg> element and as the same SVG in a data: URL, which an <img>
    shows as it is (no second request, no token in a header: the page has the token already)."""
    code = qr_matrix(url)
    return QrCode(svg=code.svg_inline(scale=4, omitsize=True), data_url=code.svg_data_uri(scale=4, border=4))


def create_mobile_upload(
    principal: Principal, retention: Retention, ctx: MobileUploadContext, now: int
) -> MobileUploadCreated:
    """Open a mobile upload into the caller's session; the token is returned once, stored hashed."""
    principal.require_full_user()
    secret = ids.new_capability_token()
    link_expires_at = now + ctx.tenant.mobile_upload_link_seconds
    kept_for = (
        ctx.tenant.extended_retention_seconds
        if retention is Retention.EXTENDED
        else ctx.tenant.session_retention_seconds
    )
    record = MobileUploadRecord(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        session_id=principal.session_id,
        mobile_upload_id=ids.new_id(),
        token_hash=ids.hash_token(secret),
        retention=retention,
        created_at=now,
        link_expires_at=link_expires_at,
        expires_at=link_expires_at + kept_for,
        max_files=ctx.tenant.mobile_upload_max_files,
        max_bytes=ctx.tenant.mobile_upload_max_bytes,
    )
    ctx.store.add_mobile_upload(record)
    token = mobile_upload_token(record.tenant_id, record.mobile_upload_id, secret)
    url = page_url(ctx.tenant, ctx.public_base_url, token)
    return MobileUploadCreated(
        mobile_upload_id=record.mobile_upload_id,
        token=token,
        url=url,
        qr=qr_code(url),
        expires_at=iso(from_epoch(link_expires_at)),
        retention=retention,
    )


def own_mobile_upload(
    principal: Principal, mobile_upload_id: str, store: MobileUploadStore, now: float
) -> MobileUploadRecord:
    """The caller's live mobile upload; another user's or tenant's, or one whose retention is over
    (the sweep or TTL may not have removed it yet), is 404."""
    principal.require_full_user()
    record = store.get_mobile_upload(principal.tenant_id, mobile_upload_id) if ids.is_id(mobile_upload_id) else None
    if record is None or record.user_id != principal.user_id or record.expires_at <= now:
        raise NotFound(f"mobile upload {mobile_upload_id} not found")
    return record


def show_mobile_upload(
    principal: Principal, mobile_upload_id: str, ctx: MobileUploadContext, now: float
) -> MobileUploadView:
    """The mobile upload and the files that arrived, with download URLs (one GetItem, one Query)."""
    record = own_mobile_upload(principal, mobile_upload_id, ctx.store, now)
    files = _arrived(record, ctx.store, now)
    return MobileUploadView(
        mobile_upload_id=record.mobile_upload_id,
        retention=record.retention,
        expires_at=iso(from_epoch(record.link_expires_at)),
        revoked=record.revoked,
        file_count=record.file_count,
        max_files=record.max_files,
        files=[_view(f, ctx) for f in files],
    )


def list_mobile_uploads(
    principal: Principal, store: MobileUploadStore, now: float, *, limit: int, cursor: str | None
) -> MobileUploadPage:
    """The caller's mobile uploads whose retention is not over, newest first, a page at a time."""
    principal.require_full_user()
    page = store.list_mobile_uploads(principal.tenant_id, principal.user_id, limit=limit, cursor=cursor)
    return MobileUploadPage(
        items=[
            MobileUploadSummary(
                mobile_upload_id=r.mobile_upload_id,
                retention=r.retention,
                created_at=iso(from_epoch(r.created_at)),
                expires_at=iso(from_epoch(r.link_expires_at)),
                revoked=r.revoked,
                file_count=r.file_count,
                max_files=r.max_files,
            )
            for r in page.items
            if r.expires_at > now
        ],
        next_cursor=page.next_cursor,
    )


def revoke_mobile_upload(principal: Principal, mobile_upload_id: str, store: MobileUploadStore, now: float) -> None:
    """The phone's token stops working (at the latest when the gateway's cached authorization ends,
    at once for uploads: they re-check the mobile upload)."""
    store.revoke(own_mobile_upload(principal, mobile_upload_id, store, now))


def phone_session(
    principal: Principal, mobile_upload_id: str, ctx: MobileUploadContext, now: float
) -> MobileUploadSession:
    """What the phone's page shows: limits, expiry and the files uploaded so far (no download URLs)."""
    if principal.is_full_user:
        raise Forbidden("this route is for the phone's mobile upload token")
    if principal.scope_value(MOBILE_UPLOAD_SCOPE) != mobile_upload_id:
        raise NotFound(f"mobile upload {mobile_upload_id} not found")
    record = open_mobile_upload(principal, ctx.store, now)
    files = _arrived(record, ctx.store, now)
    return MobileUploadSession(
        mobile_upload_id=record.mobile_upload_id,
        retention=record.retention,
        expires_at=iso(from_epoch(record.link_expires_at)),
        max_files=record.max_files,
        max_bytes=record.max_bytes,
        file_count=record.file_count,
        uploaded_bytes=record.uploaded_bytes,
        max_file_bytes=ctx.tenant.max_upload_bytes,
        allowed_types=list(ctx.tenant.allowed_types),
        files=[FileView.of(f) for f in files],
    )


def open_mobile_upload(principal: Principal, store: MobileUploadStore | None, now: float) -> MobileUploadRecord:
    """The scoped caller's mobile upload, refused (401) once revoked or past its link window.
    API Gateway caches the authorizer's answer, so handlers check again here."""
    mobile_upload_id = principal.scope_value(MOBILE_UPLOAD_SCOPE)
    if mobile_upload_id is None or store is None:
        raise Forbidden("this token may not upload")
    record = store.get_mobile_upload(principal.tenant_id, mobile_upload_id)
    if record is None or record.user_id != principal.user_id:
        raise Unauthorized("mobile upload token is not valid")
    _require_open(record, now)
    return record


def reserve_upload(
    principal: Principal, size_bytes: int, store: MobileUploadStore | None, now: int
) -> MobileUploadRecord | None:
    """For a phone's token: take one file slot of size_bytes on its mobile upload, atomically
    (409 mobile_upload_full, 413 over its bytes). A full user token reserves nothing (None)."""
    if principal.is_full_user:
        return None
    record = open_mobile_upload(principal, store, now)
    assert store is not None
    try:
        return store.reserve_slot(record, size_bytes, now)
    except ConditionFailed:
        current = store.get_mobile_upload(record.tenant_id, record.mobile_upload_id)
        if current is None:
            raise Unauthorized("mobile upload token is not valid") from None
        _require_open(current, now)
        if current.file_count >= current.max_files:
            raise MobileUploadFull(
                f"this mobile upload has taken its {current.max_files} files",
                details={"maxFiles": current.max_files},
            ) from None
        raise PayloadTooLarge(
            f"{size_bytes} more bytes would exceed this mobile upload's {current.max_bytes} bytes "
            f"({current.uploaded_bytes} used)",
            details={"maxBytes": current.max_bytes, "uploadedBytes": current.uploaded_bytes},
        ) from None


def _require_open(record: MobileUploadRecord, now: float) -> None:
    if record.revoked:
        raise Unauthorized("mobile upload link has been revoked")
    if now >= record.link_expires_at:
        raise Unauthorized("mobile upload link has expired")


def _arrived(record: MobileUploadRecord, store: MobileUploadStore, now: float) -> list[FileRecord]:
    return [f for f in store.list_files(record.tenant_id, record.mobile_upload_id) if not f.is_expired(now)]


def _view(record: FileRecord, ctx: MobileUploadContext) -> FileView:
    return file_view(record, ctx.bucket, ctx.tenant)
