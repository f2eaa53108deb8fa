"""Working on a project together: invites, members and roles, comments, activity (docs/collaboration.md).

Invites are capability links as shares are (imagestore.ids.new_capability_token: 256 random bits, only
the SHA-256 stored, under the caller's tenant: a token from another tenant names nothing there), with a
role, an expiry and revocation; accepting one uses it up. Who may do what is decided by the role META
names (one GetItem: imagestore.models.projects.ProjectRecord.role_of); anyone else gets 404.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from imagestore import ids
from imagestore.auth import Principal
from imagestore.clock import from_epoch, iso
from imagestore.config import link_from_template
from imagestore.data.collaboration import CollaborationStore, new_activity_id
from imagestore.errors import BadRequest, Conflict, Forbidden, InvalidCursor, NotFound, PayloadTooLarge
from imagestore.models.collaboration import (
    CAN_COMMENT,
    CAN_SAVE,
    MAX_COMMENT_BYTES,
    OWNER,
    ActivityKind,
    ActivityRecord,
    CommentRecord,
    InviteRecord,
    MemberRecord,
    Role,
)
from imagestore.models.projects import ProjectRecord
from imagestore.observability import logger
from project_service.logic.projects import ProjectContext, find_member_project, find_own_project
from project_service.models import (
    ActivityPage,
    ActivityView,
    CommentInput,
    CommentPage,
    CommentUpdate,
    CommentView,
    InviteCreated,
    InviteInput,
    InvitePage,
    InviteView,
    MemberPage,
    MemberRole,
    MemberView,
    RoleInput,
)

LOCAL_INVITE_URL = "{public_base_url}/invites/{token}"
MAX_TOKEN_LENGTH = 200
DAY = 86400
MAX_SINCE = 253_402_300_799.0  # 9999-12-31T23:59:59Z: ids keep 48 bits of milliseconds (imagestore.ids)


@dataclass(frozen=True)
class CollaborationContext:
    project: ProjectContext
    collaboration: CollaborationStore
    public_base_url: str


def _activity(principal: Principal, project_id: str, kind: ActivityKind, now: int, **fields: object) -> ActivityRecord:
    return ActivityRecord(
        tenant_id=principal.tenant_id,
        project_id=project_id,
        activity_id=new_activity_id(now),
        kind=kind,
        user_id=principal.user_id,
        at=now,
        **fields,  # type: ignore[arg-type]
    )


# --- invites ---------------------------------------------------------------------------------


def create_invite(
    principal: Principal, project_id: str, request: InviteInput, ctx: CollaborationContext, now: int
) -> InviteCreated:
    """A new invite to the caller's own live project (404 otherwise)."""
    project = find_own_project(principal, project_id, ctx.project, now)
    days = min(request.expires_in_days, ctx.project.tenant.share_max_days)
    token = ids.new_capability_token()
    record = InviteRecord(
        tenant_id=principal.tenant_id,
        owner_id=principal.user_id,
        project_id=project.project_id,
        invite_id=ids.new_id(),
        token_hash=ids.hash_token(token),
        role=Role(request.role),
        created_at=now,
        expires_at=now + days * DAY,
    )
    ctx.collaboration.add_invite(record, now)
    logger.info("invite created", project_id=project_id, invite_id=record.invite_id, role=record.role.value)
    return InviteCreated(
        invite_id=record.invite_id,
        token=token,
        url=link_from_template(LOCAL_INVITE_URL, ctx.public_base_url, token),
        role=record.role.value,
        expires_at=iso(from_epoch(record.expires_at)),
    )


def list_invites(
    principal: Principal, project_id: str, ctx: CollaborationContext, now: int, *, limit: int, cursor: str | None
) -> InvitePage:
    find_own_project(principal, project_id, ctx.project, now)
    page = ctx.collaboration.list_invites(principal.tenant_id, project_id, limit=limit, cursor=cursor)
    return InvitePage(
        items=[
            InviteView(
                invite_id=i.invite_id,
                role=i.role.value,
                created_at=iso(from_epoch(i.created_at)),
                expires_at=iso(from_epoch(i.expires_at)),
            )
            for i in page.items
            if i.is_live(now)
        ],
        next_cursor=page.next_cursor,
    )


def revoke_invite(principal: Principal, project_id: str, invite_id: str, ctx: CollaborationContext, now: int) -> None:
    find_own_project(principal, project_id, ctx.project, now)
    invite = (
        ctx.collaboration.get_project_invite(principal.tenant_id, project_id, invite_id)
        if ids.is_id(invite_id)
        else None
    )
    if invite is None:
        raise NotFound(f"invite {invite_id} not found")
    ctx.collaboration.revoke_invite(invite)
    logger.info("invite revoked", project_id=project_id, invite_id=invite_id)


def accept_invite(principal: Principal, token: str, ctx: CollaborationContext, now: int) -> MemberView:
    """Join the project the invite names with its role (the invite is used up). Unknown, used, revoked,
    expired tokens and tokens of another tenant are all 404; the owner or a member already: 409."""
    principal.require_full_user()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("invite not found")
    invite = ctx.collaboration.find_invite(principal.tenant_id, ids.hash_token(token))
    if invite is None or not invite.is_live(now):
        raise NotFound("invite not found")
    if invite.owner_id == principal.user_id:
        raise Conflict("this is your own project; send the link to the person you invite", details={"role": OWNER})
    member = MemberRecord(
        tenant_id=principal.tenant_id,
        project_id=invite.project_id,
        user_id=principal.user_id,
        role=invite.role,
        joined_at=now,
        invited_by=invite.owner_id,
    )
    activity = _activity(principal, invite.project_id, ActivityKind.JOINED, now, role=invite.role.value)
    ctx.collaboration.accept(invite, member, activity, now)
    logger.info("invite accepted", project_id=invite.project_id, invite_id=invite.invite_id, role=invite.role.value)
    return member_view(member)


# --- members ---------------------------------------------------------------------------------


def member_view(member: MemberRecord) -> MemberView:
    return MemberView(
        project_id=member.project_id,
        user_id=member.user_id,
        role=member.role.value,
        joined_at=iso(from_epoch(member.joined_at)),
        invited_by=member.invited_by,
    )


def list_members(
    principal: Principal, project_id: str, ctx: CollaborationContext, now: int, *, limit: int, cursor: str | None
) -> MemberPage:
    """The project's members (any member may look), a page at a time."""
    project = find_member_project(principal, project_id, ctx.project, now)
    page = ctx.collaboration.list_members(principal.tenant_id, project_id, limit=limit, cursor=cursor)
    return MemberPage(
        owner_id=project.user_id, items=[member_view(m) for m in page.items], next_cursor=page.next_cursor
    )


def _member_of(project: ProjectRecord, user_id: str, ctx: CollaborationContext) -> MemberRecord:
    member = ctx.collaboration.get_member(project.tenant_id, project.project_id, user_id) if user_id else None
    if member is None or user_id not in project.members:
        raise NotFound(f"member {user_id} not found")
    return member


def change_role(
    principal: Principal, project_id: str, user_id: str, request: RoleInput, ctx: CollaborationContext, now: int
) -> MemberView:
    """The owner changes a member's role."""
    project = find_member_project(principal, project_id, ctx.project, now)
    if project.user_id != principal.user_id:
        raise Forbidden("only the project's owner changes roles")
    member = _member_of(project, user_id, ctx)
    role = Role(request.role)
    ctx.collaboration.change_role(
        member,
        role,
        _activity(principal, project_id, ActivityKind.ROLE_CHANGED, now, subject_id=user_id, role=role.value),
    )
    return member_view(member.model_copy(update={"role": role}))


def remove_member(principal: Principal, project_id: str, user_id: str, ctx: CollaborationContext, now: int) -> None:
    """The owner removes a member, or a member leaves (user_id is themselves). Their next request on the
    project is refused (404); the files they added stay held by the project while a version uses them."""
    project = find_member_project(principal, project_id, ctx.project, now)
    leaving = user_id == principal.user_id
    if leaving and project.user_id == principal.user_id:
        raise Conflict("the owner cannot leave their own project; delete it instead")
    if not leaving and project.user_id != principal.user_id:
        raise Forbidden("only the project's owner removes other members")
    member = _member_of(project, user_id, ctx)
    kind = ActivityKind.LEFT if leaving else ActivityKind.REMOVED
    ctx.collaboration.remove_member(member, _activity(principal, project_id, kind, now, subject_id=user_id))
    logger.info("member removed", project_id=project_id, left=leaving)


# --- comments --------------------------------------------------------------------------------


def _plain_text(text: str) -> str:
    """A comment's text: plain text of at most MAX_COMMENT_BYTES as UTF-8 (413 above), no control
    characters but line feeds and tabs (400)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_COMMENT_BYTES:
        raise PayloadTooLarge(
            f"a comment is at most {MAX_COMMENT_BYTES} bytes of UTF-8 text, this one is {size}",
            details={"maxCommentBytes": MAX_COMMENT_BYTES, "commentBytes": size},
        )
    bad = next((c for c in text if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn")), None)
    if bad is not None or not text.strip():
        raise BadRequest("a comment is plain text: no control characters, not only spaces")
    return text


def comment_view(record: CommentRecord) -> CommentView:
    def at(epoch: int | None) -> str | None:
        return iso(from_epoch(epoch)) if epoch is not None else None

    return CommentView(
        comment_id=record.comment_id,
        project_id=record.project_id,
        author_id=record.author_id,
        text=record.text,
        anchor=record.anchor,
        created_at=iso(from_epoch(record.created_at)),
        edited_at=at(record.edited_at),
        resolved_at=at(record.resolved_at),
        resolved_by=record.resolved_by,
    )


def add_comment(
    principal: Principal, project_id: str, request: CommentInput, ctx: CollaborationContext, now: int
) -> CommentView:
    """A comment of the owner, an editor or a commenter (a viewer: 403)."""
    find_member_project(principal, project_id, ctx.project, now, CAN_COMMENT)
    record = CommentRecord(
        tenant_id=principal.tenant_id,
        project_id=project_id,
        comment_id=new_activity_id(now),
        author_id=principal.user_id,
        text=_plain_text(request.text),
        anchor=request.anchor,
        created_at=now,
    )
    ctx.collaboration.add_comment(record)
    return comment_view(record)


def _comment(principal: Principal, project_id: str, comment_id: str, ctx: CollaborationContext) -> CommentRecord:
    record = (
        ctx.collaboration.get_comment(principal.tenant_id, project_id, comment_id) if ids.is_id(comment_id) else None
    )
    if record is None:
        raise NotFound(f"comment {comment_id} not found")
    return record


def update_comment(
    principal: Principal, project_id: str, comment_id: str, request: CommentUpdate, ctx: CollaborationContext, now: int
) -> CommentView:
    """The author edits the text; an editor or the owner resolves or reopens."""
    project = find_member_project(principal, project_id, ctx.project, now, CAN_COMMENT)
    if request.text is None and request.resolved is None:
        raise BadRequest("nothing to change: give text, resolved or both")
    record = _comment(principal, project_id, comment_id, ctx)
    if request.text is not None:
        if record.author_id != principal.user_id:
            raise Forbidden("only its author edits a comment")
        record = ctx.collaboration.edit_comment(record, _plain_text(request.text), now)
    if request.resolved is not None:
        if project.role_of(principal.user_id) not in CAN_SAVE:
            raise Forbidden("only an editor or the owner resolves a comment")
        record = ctx.collaboration.resolve_comment(record, request.resolved, principal.user_id, now)
    return comment_view(record)


def delete_comment(principal: Principal, project_id: str, comment_id: str, ctx: CollaborationContext, now: int) -> None:
    find_member_project(principal, project_id, ctx.project, now, CAN_COMMENT)
    record = _comment(principal, project_id, comment_id, ctx)
    if record.author_id != principal.user_id:
        raise Forbidden("only its author deletes a comment")
    ctx.collaboration.delete_comment(record)


def list_comments(
    principal: Principal, project_id: str, ctx: CollaborationContext, now: int, *, limit: int, cursor: str | None
) -> CommentPage:
    find_member_project(principal, project_id, ctx.project, now)
    page = ctx.collaboration.list_comments(principal.tenant_id, project_id, limit=limit, cursor=cursor)
    return CommentPage(items=[comment_view(c) for c in page.items], next_cursor=page.next_cursor)


# --- activity --------------------------------------------------------------------------------


def parse_since(since: str | None) -> float:
    """?since=: an ISO 8601 time (with its offset, or UTC) or epoch seconds; absent: the beginning."""
    if since is None or since == "":
        return 0.0
    value = since.strip()
    try:
        if value.isascii() and value.isdigit() and len(value) <= 12:
            return min(float(value), MAX_SINCE)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=from_epoch(0).tzinfo)
        return min(max(0.0, moment.timestamp()), MAX_SINCE)
    except (ValueError, OverflowError):
        raise BadRequest("since must be an ISO 8601 time (2026-12-08T10:00:00Z) or epoch seconds") from None


def activity(
    principal: Principal,
    project_id: str,
    ctx: CollaborationContext,
    now: int,
    *,
    since: str | None,
    limit: int,
    cursor: str | None,
) -> ActivityPage:
    """Saves, joins, leaves, removals, role changes and comments after `since` (or after the cursor of
    the previous page), oldest first: two Queries of the project's partition."""
    find_member_project(principal, project_id, ctx.project, now)
    if cursor:
        if not ids.is_id(cursor):
            raise InvalidCursor("cursor is not one this API issued for this list")
        after = cursor
    else:
        start = parse_since(since)
        after = ids.id_floor(start) if start > 0 else "0" * 26
    records, more = ctx.collaboration.activity_after(principal.tenant_id, project_id, after, limit)
    views = []
    last = after
    for record in records:
        if isinstance(record, CommentRecord):
            last = record.comment_id
            views.append(
                ActivityView(
                    kind="commented",
                    user_id=record.author_id,
                    at=iso(from_epoch(record.created_at)),
                    comment_id=record.comment_id,
                )
            )
        else:
            last = record.activity_id
            views.append(
                ActivityView(
                    kind=record.kind.value,  # type: ignore[arg-type]
                    user_id=record.user_id,
                    at=iso(from_epoch(record.at)),
                    version=record.version,
                    files_added=record.files_added,
                    files_removed=record.files_removed,
                    subject_id=record.subject_id,
                    role=cast(MemberRole | None, record.role),  # written from a Role
                )
            )
    return ActivityPage(items=views, next_cursor=last if more else None)
