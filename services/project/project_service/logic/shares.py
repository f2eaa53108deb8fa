"""Sharing a project: capability links to view it or to copy it.

Tokens are 256 random bits (imagestore.ids.new_capability_token); only their SHA-256 is stored,
as the key of the share's lookup item inside the caller's tenant (a token presented in another
tenant names nothing there: 404). A share expires (expiresInDays, capped at the tenant's
share_max_days) and can be revoked; unknown, revoked and expired tokens all answer 404. Copying a
view share is refused with 403: the token is valid, it just does not allow that.

How a copy stays whole: it holds the same files, it does not duplicate their bytes.
A copy is a new project of the caller whose hold links (imagestore.data.holds) point at the
original owner's files. Acquiring a hold is one conditional transaction per 50 files that only
succeeds on a file that is available and alive, and the sweep deletes a file only when nothing
holds it; so "copy while the original is deleted" is safe whatever the interleaving: either the
copy's hold lands first and the file stays (deleting the original then only releases the
original's hold), or the file is already gone and the copy is refused with 409, leaving nothing
behind. No bytes are duplicated and no copy-then-delete window exists, which S3 CopyObject could
not give atomically with the file's deletion. The owner's DELETE /files/{id} on a file a copy
holds answers 409, as for any held file; the file goes when its last holder does.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagestore import ids
from imagestore.auth import Principal
from imagestore.clock import from_epoch, iso
from imagestore.config import link_from_template
from imagestore.data.projects import ProjectPartition
from imagestore.data.shares import ShareStore
from imagestore.errors import Conflict, Forbidden, NotFound, Unprocessable
from imagestore.models.holds import FileRef
from imagestore.models.projects import ProjectRecord
from imagestore.models.shares import ShareMode, ShareRecord
from imagestore.observability import logger
from project_service.logic import projects
from project_service.logic.projects import ProjectContext
from project_service.models import ProjectView, ShareCreated, SharedProjectView, ShareInput

LOCAL_SHARE_URL = "{public_base_url}/shares/{token}"
MAX_TOKEN_LENGTH = 200
DAY = 86400


@dataclass(frozen=True)
class ShareContext:
    project: ProjectContext
    shares: ShareStore
    public_base_url: str


def share_url(ctx: ShareContext, token: str) -> str:
    """The link a recipient opens: the tenant's template, or this API's GET /shares/{token}."""
    return link_from_template(ctx.project.tenant.share_url_template or LOCAL_SHARE_URL, ctx.public_base_url, token)


def create_share(principal: Principal, project_id: str, request: ShareInput, ctx: ShareContext,
                 now: int) -> ShareCreated:
    """A new share of the caller's live project (404 otherwise)."""
    principal.require_full_user()
    if not ids.is_id(project_id):
        raise NotFound(f"project {project_id} not found")
    days = min(request.expires_in_days, ctx.project.tenant.share_max_days)
    token = ids.new_capability_token()
    record = ShareRecord(
        tenant_id=principal.tenant_id, owner_id=principal.user_id, project_id=project_id, share_id=ids.new_id(),
        token_hash=ids.hash_token(token), mode=ShareMode(request.mode), created_at=now,
        expires_at=now + days * DAY,
    )
    ctx.shares.add_share(record, now)
    logger.info("project shared", project_id=project_id, share_id=record.share_id, mode=record.mode.value)
    return ShareCreated(share_id=record.share_id, token=token, url=share_url(ctx, token), mode=record.mode.value,
                        expires_at=iso(from_epoch(record.expires_at)))


def revoke_share(principal: Principal, project_id: str, share_id: str, ctx: ShareContext) -> None:
    principal.require_full_user()
    if not (ids.is_id(project_id) and ids.is_id(share_id)):
        raise NotFound(f"share {share_id} not found")
    share = ctx.shares.get_project_share(principal.tenant_id, project_id, share_id)
    if share is None or share.owner_id != principal.user_id:
        raise NotFound(f"share {share_id} not found")
    ctx.shares.revoke(share)
    logger.info("share revoked", project_id=project_id, share_id=share_id)


def resolve_share(principal: Principal, token: str, ctx: ShareContext,
                  now: int) -> tuple[ShareRecord, ProjectPartition]:
    """The live share a token names in the caller's tenant, and its live project: one GetItem, one Query."""
    principal.require_full_user()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("share not found")
    share = ctx.shares.find_by_token_hash(principal.tenant_id, ids.hash_token(token))
    if share is None or not share.is_live(now):
        raise NotFound("share not found")
    partition = ctx.project.projects.load_project(principal.tenant_id, share.project_id)
    project = partition.project
    if (project is None or not project.is_live(now) or project.user_id != share.owner_id
            or not any(i.get("shareId") == share.share_id for i in partition.share_items)):
        raise NotFound("share not found")
    return share, partition


def view_share(principal: Principal, token: str, ctx: ShareContext, now: int) -> SharedProjectView:
    share, partition = resolve_share(principal, token, ctx, now)
    project = partition.project
    assert project is not None
    view = projects.project_view(project, projects.read_document(project, ctx.project.bucket), partition.links,
                                 ctx.project)
    return SharedProjectView(share_id=share.share_id, mode=share.mode.value,
                             expires_at=iso(from_epoch(share.expires_at)), project=view)


def copy_share(principal: Principal, token: str, ctx: ShareContext, now: int) -> ProjectView:
    """A new project of the caller's that holds the shared project's files (see the module doc)."""
    share, partition = resolve_share(principal, token, ctx, now)
    if share.mode is not ShareMode.COPY:
        raise Forbidden("this share allows viewing only, not copying")
    original = partition.project
    assert original is not None
    try:
        document = projects.read_document(original, ctx.project.bucket)
    except NotFound:
        raise Conflict("the shared project was deleted while copying it") from None
    by_id = {ref.file_id: ref for ref in partition.links}
    refs: list[FileRef] = [by_id[f] for f in original.file_ids if f in by_id]
    record = ProjectRecord(
        tenant_id=principal.tenant_id, user_id=principal.user_id, project_id=ids.new_id(), name=original.name,
        product_type=original.product_type, version=1, created_at=now, saved_at=now,
        expires_at=now + ctx.project.tenant.project_retention_seconds, file_ids=tuple(r.file_id for r in refs),
    )
    record = projects.store_document(record, document, ctx.project)
    # META first: if this call dies half-way, the copy (and whatever it holds) expires like any project.
    ctx.project.projects.add_project(record)
    try:
        ctx.project.holds.acquire(record.pk, projects.HOLDER_KIND, record.project_id, refs, now)
    except Unprocessable as gone:
        ctx.project.holders.remove(ctx.project.holders.read(record.pk), now)
        raise Conflict("the shared project's files were deleted while copying it", details=gone.details) from None
    logger.info("project copied", source_project_id=original.project_id, project_id=record.project_id,
                share_id=share.share_id, files=len(refs))
    return projects.project_view(record, document, refs, ctx.project)
