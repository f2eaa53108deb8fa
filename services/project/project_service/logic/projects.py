"""Project rules: saving with versions, holding the files a project uses, loading in one Query."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from imagestore import ids, keys
from imagestore.auth import Principal
from imagestore.config import TenantSettings
from imagestore.data.files import FileStore
from imagestore.data.holders import HolderStore
from imagestore.data.holds import HoldStore
from imagestore.data.projects import ProjectPartition, ProjectStore
from imagestore.data.storage import ImageBucket
from imagestore.errors import BadRequest, NotFound, PreconditionFailed, PreconditionRequired, Unprocessable
from imagestore.models.files import FileStatus
from imagestore.models.holds import FileRef
from imagestore.models.projects import ProjectRecord
from imagestore.observability import logger
from project_service.models import ProjectFileView, ProjectInput, ProjectSummary, ProjectView

HOLDER_KIND = "project"
# A document up to this size stays in the item (DynamoDB's limit is 400 KB for the whole item,
# which also carries up to 2,000 file ids); larger ones go to S3, transparently to clients.
INLINE_DOCUMENT_BYTES = 300_000
EXTEND_AFTER_SECONDS = 86400  # a load extends the project's life at most once a day


@dataclass(frozen=True)
class ProjectContext:
    tenant: TenantSettings
    files: FileStore
    holds: HoldStore
    projects: ProjectStore
    bucket: ImageBucket
    holders: HolderStore


def parse_if_match(value: str | None) -> int:
    """The version named by If-Match (`3`, `"3"` or `W/"3"`); 428 without it, 400 if unreadable."""
    if value is None or not value.strip():
        raise PreconditionRequired("updating a project needs If-Match: <version>")
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise BadRequest(f"If-Match must be a project version number, not {value!r}")
    return int(text)


def own_available_files(principal: Principal, file_ids: list[str], ctx: ProjectContext,
                        now: int) -> list[FileRef]:
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
        raise Unprocessable("these files are not available to you: " + ", ".join(bad),
                            details={"unavailableFileIds": bad})
    return refs


def store_document(record: ProjectRecord, document: Any, ctx: ProjectContext) -> ProjectRecord:
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) <= INLINE_DOCUMENT_BYTES:
        return record.model_copy(update={"document": text, "document_key": None})
    key = keys.document_object_key(record.tenant_id, record.project_id, record.version, ids.new_id())
    ctx.bucket.put_document(key, text.encode())
    return record.model_copy(update={"document": None, "document_key": key})


def read_document(record: ProjectRecord, bucket: ImageBucket) -> Any:
    if record.document is not None:
        return json.loads(record.document)
    if record.document_key is None:
        return {}
    body = bucket.read(record.document_key)
    if body is None:
        raise NotFound(f"project {record.project_id} not found")
    return json.loads(body)


def create_project(principal: Principal, request: ProjectInput, ctx: ProjectContext, now: int) -> ProjectView:
    principal.require_full_user()
    refs = own_available_files(principal, request.file_ids, ctx, now)
    record = ProjectRecord(
        tenant_id=principal.tenant_id, user_id=principal.user_id, project_id=ids.new_id(),
        name=request.name, product_type=request.product_type, version=1, created_at=now, saved_at=now,
        expires_at=now + ctx.tenant.project_retention_seconds, file_ids=tuple(request.file_ids),
    )
    return _save_new(record, request.document, refs, ctx, now)


def _save_new(record: ProjectRecord, document: Any, refs: list[FileRef], ctx: ProjectContext,
              now: int) -> ProjectView:
    """Write META, then hold the files. META first, so that whatever this call leaves behind if it
    dies half-way belongs to a project that expires (links without a META would hold forever);
    a file that went meanwhile undoes the whole project (422)."""
    record = store_document(record, document, ctx)
    ctx.projects.add_project(record)
    try:
        ctx.holds.acquire(record.pk, HOLDER_KIND, record.project_id, refs, now)
    except Unprocessable:
        ctx.holders.remove(ctx.holders.read(record.pk), now)
        raise
    logger.info("project created", project_id=record.project_id, files=len(refs))
    return project_view(record, document, refs, ctx)


def find_own_project(principal: Principal, project_id: str, ctx: ProjectContext, now: float) -> ProjectPartition:
    """The caller's live project and its partition; anything else is 404."""
    if not ids.is_id(project_id):
        raise NotFound(f"project {project_id} not found")
    partition = ctx.projects.load_project(principal.tenant_id, project_id)
    project = partition.project
    if project is None or project.user_id != principal.user_id or not project.is_live(now):
        raise NotFound(f"project {project_id} not found")
    return partition


def get_project(principal: Principal, project_id: str, ctx: ProjectContext, now: int) -> ProjectView:
    principal.require_full_user()
    partition = find_own_project(principal, project_id, ctx, now)
    project = partition.project
    assert project is not None
    retention = ctx.tenant.project_retention_seconds
    if project.expires_at - now < retention - EXTEND_AFTER_SECONDS:
        ctx.projects.extend_project(project, now + retention)
        project = project.model_copy(update={"expires_at": now + retention})
    return project_view(project, read_document(project, ctx.bucket), partition.links, ctx)


def project_view(record: ProjectRecord, document: Any, links: list[FileRef], ctx: ProjectContext) -> ProjectView:
    """The project with its document and, for every file it uses, a download URL."""
    by_id = {ref.file_id: ref for ref in links}
    seconds = ctx.tenant.download_url_seconds
    files = [
        ProjectFileView.of(by_id[f], ctx.bucket.presign_download(by_id[f].object_key, expires_in=seconds,
                                                                 filename=by_id[f].filename))
        for f in record.file_ids if f in by_id
    ]
    return ProjectView(**ProjectSummary.of(record).model_dump(), document=document, files=files)


def update_project(principal: Principal, project_id: str, request: ProjectInput, if_match: str | None,
                   ctx: ProjectContext, now: int) -> ProjectView:
    """Save a new version: hold what it adds, write META if the version is still current (else 412,
    undoing the new holds), then release what it no longer uses."""
    principal.require_full_user()
    expected = parse_if_match(if_match)
    partition = find_own_project(principal, project_id, ctx, now)
    current = partition.project
    assert current is not None
    if current.version != expected:
        raise PreconditionFailed(f"project {project_id} is at version {current.version}, not {expected}",
                                 details={"currentVersion": current.version})
    linked = {ref.file_id: ref for ref in partition.links}
    added_ids = [f for f in request.file_ids if f not in linked]
    added = own_available_files(principal, added_ids, ctx, now)
    record = current.model_copy(update={
        "name": request.name, "product_type": request.product_type, "version": expected + 1,
        "saved_at": now, "expires_at": now + ctx.tenant.project_retention_seconds,
        "file_ids": tuple(request.file_ids),
    })
    record = store_document(record, request.document, ctx)
    newly_held = ctx.holds.acquire(record.pk, HOLDER_KIND, record.project_id, added, now)
    try:
        ctx.projects.replace_project(record, expected)
    except PreconditionFailed:
        ctx.holds.release(record.pk, newly_held, now)
        if record.document_key:
            ctx.bucket.delete_objects([record.document_key])
        raise
    kept = set(request.file_ids)
    ctx.holds.release(record.pk, [ref for ref in partition.links if ref.file_id not in kept], now)
    if current.document_key and current.document_key != record.document_key:
        ctx.bucket.delete_objects([current.document_key])
    logger.info("project saved", project_id=project_id, version=record.version, added=len(added))
    links = [ref for ref in partition.links if ref.file_id in kept] + added
    return project_view(record, request.document, links, ctx)


def delete_project(principal: Principal, project_id: str, ctx: ProjectContext, now: int) -> None:
    principal.require_full_user()
    partition = find_own_project(principal, project_id, ctx, now)
    remove_project(partition, ctx, now)


def remove_project(partition: ProjectPartition, ctx: ProjectContext, now: int) -> None:
    """Hide the project, release its files, then delete it, its shares and its document
    (imagestore.data.holders: the same removal the sweep runs on an expired holder)."""
    project = partition.project
    assert project is not None
    ctx.holders.remove(partition.holder, now)
    logger.info("project deleted", project_id=project.project_id, released=len(partition.links))
