"""Project rules: saving versions, holding the files a project uses, loading a version in one read.

How holds stay race-free and what a write costs are in imagestore.data.projects; this module checks
the caller's rights and inputs and builds what is saved and shown.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from imagestore import ids, webhook_events
from imagestore.auth import Principal
from imagestore.config import TenantSettings
from imagestore.data.collaboration import CollaborationStore, new_activity_id
from imagestore.data.files import FileStore
from imagestore.data.holders import HolderStore
from imagestore.data.holds import HoldStore
from imagestore.data.projects import Draft, ProjectStore
from imagestore.data.storage import ImageBucket
from imagestore.errors import Conflict, Forbidden, InvalidCursor, NotFound, PreconditionFailed, Unprocessable
from imagestore.models.collaboration import CAN_SAVE, OWNER, ActivityKind, ActivityRecord
from imagestore.models.files import FileStatus, PreviewStatus
from imagestore.models.holds import FileRef
from imagestore.models.manifests import Manifest
from imagestore.models.projects import ProjectRecord
from imagestore.observability import logger
from imagestore.preconditions import none_match, parse_if_match
from imagestore.preview_views import pending_preview_views, preview_views
from project_service.models import FILES_PAGE_SIZE, ProjectFileView, ProjectInput, ProjectSummary, ProjectView

EXTEND_AFTER_SECONDS = 86400  # a load extends the project's life at most once a day


@dataclass(frozen=True)
class ProjectContext:
    tenant: TenantSettings
    files: FileStore
    holds: HoldStore
    projects: ProjectStore
    bucket: ImageBucket
    holders: HolderStore
    collaboration: CollaborationStore | None = None  # members and activity (docs/collaboration.md)


class VersionConflict(PreconditionFailed):
    """A save's If-Match names a version that is no longer current: the answer (412) carries the current
    version (project) and its ETag, so the client merges and retries."""

    def __init__(self, message: str, *, current: ProjectView) -> None:
        super().__init__(message, details={"currentVersion": current.version, "current": current.dump()})
        self.current = current


def own_available_files(principal: Principal, file_ids: list[str], ctx: ProjectContext, now: int) -> list[FileRef]:
    """The caller's own available files, in order; any other id is a 422 naming it."""
    found = ctx.files.get_files(principal.tenant_id, principal.user_id, [f for f in file_ids if ids.is_id(f)])
    refs, bad = [], []
    for file_id in file_ids:
        record = found.get(file_id)
        if record is None or record.status is not FileStatus.AVAILABLE or record.is_expired(now):
            bad.append(file_id)
        else:
            refs.append(FileRef.of(record))
    if bad:
        raise Unprocessable(
            "these files are not available to you: " + ", ".join(bad), details={"unavailableFileIds": bad}
        )
    return refs


def create_project(principal: Principal, request: ProjectInput, ctx: ProjectContext, now: int) -> ProjectView:
    principal.require_full_user()
    refs = own_available_files(principal, request.file_ids, ctx, now)
    record = ProjectRecord(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        project_id=ids.new_id(),
        name=request.name,
        product_type=request.product_type,
        version=1,
        created_at=now,
        saved_at=now,
        expires_at=now + ctx.tenant.project_retention_seconds,
        file_count=len(refs),
    )
    manifest = Manifest(
        project_id=record.project_id,
        version=1,
        document=request.document,
        files=tuple(refs),
        held=tuple(r.file_id for r in refs),
    )
    record = ctx.projects.create(record, manifest, now)
    logger.info("project created", project_id=record.project_id, files=len(refs))
    return project_view(record, manifest, ctx)


def find_own_project(principal: Principal, project_id: str, ctx: ProjectContext, now: float) -> ProjectRecord:
    """The caller's live project (its META: one GetItem); anything else is 404."""
    if not ids.is_id(project_id):
        raise NotFound(f"project {project_id} not found")
    return _own_live(principal, project_id, ctx.projects.get(principal.tenant_id, project_id), now)


def load_own_project(
    principal: Principal, project_id: str, ctx: ProjectContext, now: float
) -> tuple[ProjectRecord, Manifest]:
    """The caller's live project and its current version (one GetItem, one S3 GET); else 404."""
    if not ids.is_id(project_id):
        raise NotFound(f"project {project_id} not found")
    loaded = ctx.projects.load(principal.tenant_id, project_id)
    record = _own_live(principal, project_id, loaded[0] if loaded else None, now)
    assert loaded is not None
    return record, loaded[1]


def _own_live(principal: Principal, project_id: str, record: ProjectRecord | None, now: float) -> ProjectRecord:
    if record is None or record.user_id != principal.user_id or not record.is_live(now):
        raise NotFound(f"project {project_id} not found")
    return record


def member_live(
    principal: Principal,
    project_id: str,
    record: ProjectRecord | None,
    now: float,
    allowed: frozenset[str] | None = None,
) -> ProjectRecord:
    """The live project if the caller is its owner or a member (404 for anyone else: a removed member,
    another user, another tenant, whose keys never reach this tenant's items), and their role is one of
    allowed (403: a member knows the project exists)."""
    role = record.role_of(principal.user_id) if record is not None else None
    if record is None or role is None or not record.is_live(now):
        raise NotFound(f"project {project_id} not found")
    if allowed is not None and role not in allowed:
        raise Forbidden(f"a {role} of this project cannot do that", details={"role": role})
    return record


def find_member_project(
    principal: Principal, project_id: str, ctx: ProjectContext, now: float, allowed: frozenset[str] | None = None
) -> ProjectRecord:
    """The project the caller owns or is a member of, with a role in allowed (one GetItem of META)."""
    principal.require_full_user()
    if not ids.is_id(project_id):
        raise NotFound(f"project {project_id} not found")
    return member_live(principal, project_id, ctx.projects.get(principal.tenant_id, project_id), now, allowed)


def load_member_project(
    principal: Principal, project_id: str, ctx: ProjectContext, now: float, allowed: frozenset[str] | None = None
) -> tuple[ProjectRecord, Manifest]:
    if not ids.is_id(project_id):
        raise NotFound(f"project {project_id} not found")
    loaded = ctx.projects.load(principal.tenant_id, project_id)
    record = member_live(principal, project_id, loaded[0] if loaded else None, now, allowed)
    assert loaded is not None
    return record, loaded[1]


def get_project(
    principal: Principal,
    project_id: str,
    ctx: ProjectContext,
    now: int,
    files_cursor: str | None = None,
    if_none_match: str | None = None,
) -> ProjectView | ProjectRecord:
    """The project with its document and a page of its files with download URLs; with If-None-Match
    naming its current version, only its record (one GetItem, no document read, no URL signed): the
    caller answers 304. That poll's GetItem is eventually consistent (half the units: 1 RCU for a META
    under 8 KB, 50 members included): a poll within a second of a save may still answer 304, the next
    one sees the save; anything but a 304 reads META again, consistently."""
    principal.require_full_user()
    if if_none_match is not None and ids.is_id(project_id):
        polled = ctx.projects.get(principal.tenant_id, project_id, consistent=False)
        record = member_live(principal, project_id, polled, now)
        if none_match(if_none_match, record.version):
            return _extended(record, ctx, now)
    project, manifest = load_member_project(principal, project_id, ctx, now)
    return project_view(_extended(project, ctx, now), manifest, ctx, files_cursor, viewer=principal.user_id)


def _extended(project: ProjectRecord, ctx: ProjectContext, now: int) -> ProjectRecord:
    """A load counts as use: the project's expiry moves forward (one write a day at most)."""
    retention = ctx.tenant.project_retention_seconds
    if project.expires_at - now < retention - EXTEND_AFTER_SECONDS:
        ctx.projects.extend(project, now + retention)
        return project.model_copy(update={"expires_at": now + retention})
    return project


def project_view(
    record: ProjectRecord,
    manifest: Manifest,
    ctx: ProjectContext,
    files_cursor: str | None = None,
    viewer: str | None = None,
) -> ProjectView:
    """The project with its document and a page of its files (the first, or the one files_cursor names)
    with download URLs; viewer: the caller, whose role it names (the owner's, by default)."""
    start = files_offset(files_cursor, record.version, len(manifest.files))
    end = start + FILES_PAGE_SIZE
    page = manifest.files[start:end]
    return ProjectView(
        **ProjectSummary.of(record, record.role_of(viewer) if viewer else OWNER).model_dump(),
        document=manifest.document,
        files=file_views(page, ctx, failed=previews_failed(record, manifest, page, ctx)),
        files_next_cursor=next_files_cursor(record.version, end, len(manifest.files)),
    )


def previews_failed(
    record: ProjectRecord, manifest: Manifest, page: tuple[FileRef, ...] | list[FileRef], ctx: ProjectContext
) -> frozenset[str]:
    """The files whose previews failed after the version was saved, as the project's holders know them:
    its META (read already), and, for a copy's files kept by its pin, the original's META (one GetItem,
    only when such a file of the page is not known ready or failed)."""
    failed = record.preview_failed
    if record.base_project_id is not None and manifest.base_files:
        base_ids = set(manifest.base_file_ids)
        if any(ref.file_id in base_ids and ref.preview_status is PreviewStatus.PENDING for ref in page):
            base = ctx.projects.get(record.tenant_id, record.base_project_id)
            if base is not None:
                failed = failed | base.preview_failed
    return failed


_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]{1,40}")
_FILES_CURSOR = re.compile(r"([0-9]{1,9})\.([0-9]{1,6})")


def next_files_cursor(version: int, offset: int, total: int) -> str | None:
    """The cursor of the page of files from offset (None past the last) of that version."""
    if offset >= total:
        return None
    return base64.urlsafe_b64encode(f"{version}.{offset}".encode()).rstrip(b"=").decode()


def files_offset(cursor: str | None, version: int, total: int) -> int:
    """Where the page a files cursor names starts (0 without one): a cursor that is not one of this
    list's is a 400, one of another version (the project was saved since) a 409."""
    if not cursor:
        return 0
    match = None
    if _CURSOR_CHARS.fullmatch(cursor):
        try:
            match = _FILES_CURSOR.fullmatch(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        except (binascii.Error, ValueError):
            match = None
    if match is None or not 0 < int(match[2]) < total:
        raise InvalidCursor("filesCursor is not one this API issued for this list")
    if int(match[1]) != version:
        raise Conflict(
            f"the files cursor is of version {match[1]}, the project is at {version}; "
            "load it again without filesCursor",
            details={"currentVersion": version},
        )
    return int(match[2])


def file_views(
    refs: tuple[FileRef, ...] | list[FileRef], ctx: ProjectContext, failed: frozenset[str] = frozenset()
) -> list[ProjectFileView]:
    """The files of a project, a share or an order with download URLs and their previews' URLs, signed
    without a request (a preview's key follows from its file's): current whatever the version's manifest
    knew when it was saved. Ready in the manifest: with the previews' sizes; failed (in the manifest, or
    in `failed`: the holders' record of failures since): no previews; otherwise pending, with the URLs
    of the previews to come (404 until the previews function has made them, within seconds of the
    upload)."""
    seconds = ctx.tenant.download_url_seconds
    views = []
    for ref in refs:
        status = PreviewStatus.FAILED if ref.file_id in failed else ref.preview_status
        previews = None
        if status is PreviewStatus.READY:
            previews = preview_views(ctx.bucket, ref.object_key, ref.previews, seconds)
        elif status is PreviewStatus.PENDING:
            previews = pending_preview_views(ctx.bucket, ref.object_key, seconds)
        url = ctx.bucket.presign_download(
            ref.object_key, expires_in=seconds, filename=ref.filename, content_type=ref.content_type
        )
        views.append(ProjectFileView.of(ref, url, previews, status))
    return views


def update_project(
    principal: Principal, project_id: str, request: ProjectInput, if_match: str | None, ctx: ProjectContext, now: int
) -> ProjectView:
    """Save the next version if If-Match names the current one (else 412 with the current version);
    the owner or an editor (a viewer or commenter: 403); see imagestore.data.projects."""
    principal.require_full_user()
    expected = parse_if_match(if_match)
    current, manifest = load_member_project(principal, project_id, ctx, now, CAN_SAVE)
    if current.version != expected:
        raise VersionConflict(
            f"project {project_id} is at version {current.version}, not {expected}; merge and retry",
            current=project_view(current, manifest, ctx, viewer=principal.user_id),
        )
    known = manifest.known_files  # kept files are not read again: views sign their previews anyway
    fetched = {
        ref.file_id: ref
        for ref in own_available_files(principal, [f for f in request.file_ids if f not in known], ctx, now)
    }
    draft = Draft(
        name=request.name,
        product_type=request.product_type,
        document=request.document,
        files=[known.get(f) or fetched[f] for f in request.file_ids],
        saved_at=now,
        expires_at=now + ctx.tenant.project_retention_seconds,
    )
    editor_id = None if current.user_id == principal.user_id else principal.user_id
    try:
        saved, saved_manifest = ctx.projects.save(current, manifest, draft, now, editor_id=editor_id)
    except VersionConflict:
        raise
    except PreconditionFailed as moved:  # saved by someone else between our read and our commit
        loaded = ctx.projects.load(principal.tenant_id, project_id)
        if loaded is None:
            raise
        raise VersionConflict(
            moved.message, current=project_view(loaded[0], loaded[1], ctx, viewer=principal.user_id)
        ) from None
    added = [f for f in saved_manifest.file_ids if f not in set(manifest.file_ids)]
    if ctx.collaboration is not None:
        ctx.collaboration.record(
            ActivityRecord(
                tenant_id=principal.tenant_id,
                project_id=project_id,
                activity_id=new_activity_id(now),
                kind=ActivityKind.SAVED,
                user_id=principal.user_id,
                at=now,
                version=saved.version,
                files_added=len(added),
                files_removed=len(set(manifest.file_ids) - set(saved_manifest.file_ids)),
            )
        )
    logger.info(
        "project saved",
        project_id=project_id,
        version=saved.version,
        added=len(set(saved_manifest.held) - manifest.covered),
        released=len(saved_manifest.released),
    )
    return project_view(saved, saved_manifest, ctx, viewer=principal.user_id)


def delete_project(principal: Principal, project_id: str, ctx: ProjectContext, now: int) -> None:
    """Hide the project at once; the sweep releases its files and removes it (imagestore.data.projects).
    The tenant's `project.deleted` webhook event is written in the same transaction."""
    principal.require_full_user()
    project = find_own_project(principal, project_id, ctx, now)
    deleted = webhook_events.project_deleted(principal.tenant_id, principal.user_id, project_id, now)
    ctx.projects.mark_deleted(project, now, events=[deleted])
    logger.info("project deleted", project_id=project_id)
