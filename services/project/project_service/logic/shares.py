"""Sharing a project: capability links to view it or to copy it.

Tokens are 256 random bits (imagestore.ids.new_capability_token); only their SHA-256 is stored,
as the key of the share's lookup item inside the caller's tenant (a token presented in another
tenant names nothing there: 404). A share expires (expiresInDays, capped at the tenant's
share_max_days) and can be revoked; unknown, revoked and expired tokens all answer 404. Copying a
view share is refused with 403: the token is valid, it just does not allow that.

How a copy stays whole: it pins the original's version, it does not duplicate bytes or holds.
A copy is a new project of the caller whose first version lists the original's files; written in one
transaction with a pin on the original's current version (imagestore.data.projects): while the pin
exists the original releases no hold and is not removed, even once deleted, so the copy's images
stay readable; the pin goes when the copy goes. If the original was saved or deleted between the
read and the pin, the transaction fails and nothing is left behind (409, retry). A copy costs a few
writes whatever the number of images. Files the copy's owner adds later are held by the copy itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagestore import ids
from imagestore.auth import Principal
from imagestore.clock import from_epoch, iso
from imagestore.config import link_from_template
from imagestore.data.shares import ShareStore
from imagestore.errors import Conflict, Forbidden, NotFound
from imagestore.models.manifests import Manifest
from imagestore.models.projects import ProjectRecord
from imagestore.models.shares import ShareMode, ShareRecord
from imagestore.observability import logger
from project_service.logic import projects
from project_service.logic.projects import ProjectContext
from project_service.models import ProjectView, ShareCreated, SharedProjectView, ShareInput, SharePage, ShareView

LOCAL_SHARE_URL = "{public_base_url}/shares/{token}"
MAX_TOKEN_LENGTH = 200
DAY = 86400
COPY_ATTEMPTS = 3


@dataclass(frozen=True)
class ShareContext:
    project: ProjectContext
    shares: ShareStore
    public_base_url: str


def share_url(ctx: ShareContext, token: str) -> str:
    """The link a recipient opens: the tenant's template, or this API's GET /shares/{token}."""
    return link_from_template(ctx.project.tenant.share_url_template or LOCAL_SHARE_URL, ctx.public_base_url, token)


def create_share(
    principal: Principal, project_id: str, request: ShareInput, ctx: ShareContext, now: int
) -> ShareCreated:
    """A new share of the caller's live project (404 otherwise)."""
    principal.require_full_user()
    if not ids.is_id(project_id):
        raise NotFound(f"project {project_id} not found")
    days = min(request.expires_in_days, ctx.project.tenant.share_max_days)
    token = ids.new_capability_token()
    record = ShareRecord(
        tenant_id=principal.tenant_id,
        owner_id=principal.user_id,
        project_id=project_id,
        share_id=ids.new_id(),
        token_hash=ids.hash_token(token),
        mode=ShareMode(request.mode),
        created_at=now,
        expires_at=now + days * DAY,
    )
    ctx.shares.add_share(record, now)
    logger.info("project shared", project_id=project_id, share_id=record.share_id, mode=record.mode.value)
    return ShareCreated(
        share_id=record.share_id,
        token=token,
        url=share_url(ctx, token),
        mode=record.mode.value,
        expires_at=iso(from_epoch(record.expires_at)),
    )


def revoke_share(principal: Principal, project_id: str, share_id: str, ctx: ShareContext) -> None:
    principal.require_full_user()
    if not (ids.is_id(project_id) and ids.is_id(share_id)):
        raise NotFound(f"share {share_id} not found")
    share = ctx.shares.get_project_share(principal.tenant_id, project_id, share_id)
    if share is None or share.owner_id != principal.user_id:
        raise NotFound(f"share {share_id} not found")
    ctx.shares.revoke(share)
    logger.info("share revoked", project_id=project_id, share_id=share_id)


def list_shares(
    principal: Principal, project_id: str, ctx: ShareContext, now: int, *, limit: int, cursor: str | None
) -> SharePage:
    """The live shares of the caller's live project (404 otherwise), a page at a time."""
    principal.require_full_user()
    record = ctx.project.projects.get(principal.tenant_id, project_id) if ids.is_id(project_id) else None
    if record is None or record.user_id != principal.user_id or not record.is_live(now):
        raise NotFound(f"project {project_id} not found")
    page = ctx.shares.list_project_shares(principal.tenant_id, project_id, limit=limit, cursor=cursor)
    return SharePage(
        items=[
            ShareView(
                share_id=s.share_id,
                mode=s.mode.value,
                created_at=iso(from_epoch(s.created_at)),
                expires_at=iso(from_epoch(s.expires_at)),
            )
            for s in page.items
            if s.is_live(now)
        ],
        next_cursor=page.next_cursor,
    )


def resolve_share(
    principal: Principal, token: str, ctx: ShareContext, now: int
) -> tuple[ShareRecord, ProjectRecord, Manifest]:
    """The live share a token names in the caller's tenant, and its live project's current version:
    one GetItem for the share, one for the project, one S3 GET."""
    principal.require_full_user()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("share not found")
    share = ctx.shares.find_by_token_hash(principal.tenant_id, ids.hash_token(token))
    if share is None or not share.is_live(now):
        raise NotFound("share not found")
    loaded = ctx.project.projects.load(principal.tenant_id, share.project_id)
    if loaded is None or not loaded[0].is_live(now) or loaded[0].user_id != share.owner_id:
        raise NotFound("share not found")
    return share, loaded[0], loaded[1]


def view_share(
    principal: Principal, token: str, ctx: ShareContext, now: int, files_cursor: str | None = None
) -> SharedProjectView:
    share, project, manifest = resolve_share(principal, token, ctx, now)
    return SharedProjectView(
        share_id=share.share_id,
        mode=share.mode.value,
        expires_at=iso(from_epoch(share.expires_at)),
        project=projects.project_view(project, manifest, ctx.project, files_cursor),
    )


def copy_share(principal: Principal, token: str, ctx: ShareContext, now: int) -> ProjectView:
    """A new project of the caller's that pins the shared project's version (see the module doc)."""
    for attempt in range(COPY_ATTEMPTS):
        share, original, manifest = resolve_share(principal, token, ctx, now)
        if share.mode is not ShareMode.COPY:
            raise Forbidden("this share allows viewing only, not copying")
        record = ProjectRecord(
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            project_id=ids.new_id(),
            name=original.name,
            product_type=original.product_type,
            version=1,
            created_at=now,
            saved_at=now,
            expires_at=now + ctx.project.tenant.project_retention_seconds,
            file_count=len(manifest.files),
            base_project_id=original.project_id,
        )
        copy_manifest = Manifest(
            project_id=record.project_id,
            version=1,
            document=manifest.document,
            files=manifest.files,
            base_files=manifest.files,
        )
        try:
            record = ctx.project.projects.create(
                record, copy_manifest, now, pin=ctx.project.projects.pin_operations(original, record.pk, now)
            )
        except Conflict:
            if attempt + 1 == COPY_ATTEMPTS:
                raise
            continue  # the original was saved meanwhile: copy its new version
        logger.info(
            "project copied",
            source_project_id=original.project_id,
            project_id=record.project_id,
            share_id=share.share_id,
            files=len(manifest.files),
        )
        return projects.project_view(record, copy_manifest, ctx.project)
    raise AssertionError("unreachable")
