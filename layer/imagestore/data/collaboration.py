"""Access patterns of collaboration: invites, members, comments, activity (imagestore.models.collaboration).

Every membership change is one transaction over the project's META (its M#{userId} attribute and
memberCount, on conditions that keep the limits), the member's MEMBER# item and an activity entry;
so the role META names (what every request checks, with the one GetItem it makes anyway) and the
member list never disagree. Nothing here scans: members, comments and activity are Queries of the
project's partition, a user's projects one Query of gsi1.
"""

from __future__ import annotations

import contextlib
from typing import Any

from imagestore import clock, ids, keys
from imagestore.data.pagination import Page, decode_cursor, encode_cursor
from imagestore.data.table import Table
from imagestore.errors import ConditionFailed, Conflict, NotFound, TransactionConflict
from imagestore.models.collaboration import (
    MAX_COMMENTS,
    MAX_MEMBERS,
    ActivityRecord,
    CommentRecord,
    InviteRecord,
    MemberRecord,
    Role,
)
from imagestore.models.projects import ProjectStatus
from imagestore.observability import logger


class AlreadyMember(Conflict):
    code = "already_member"


class ProjectFull(Conflict):
    """The project has MAX_MEMBERS members (or MAX_COMMENTS comments)."""

    code = "limit_reached"


def _live_project_check(project_key: dict[str, str], now: int, extra: str = "", **values: Any) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "Key": project_key,
            "ConditionExpression": "#status = :active AND expiresAt > :now" + extra,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":active": ProjectStatus.ACTIVE.value, ":now": now, **values},
        }
    }


class CollaborationStore:
    """Invites, members, comments and activity of projects, in the single table."""

    def __init__(self, table: Table, expiry_shards: int) -> None:
        self.table = table
        self.expiry_shards = expiry_shards

    # --- invites -------------------------------------------------------------------------------

    def add_invite(self, record: InviteRecord, now: int) -> None:
        """Both items of an invite, if the project is the owner's and live (else 404): one transaction."""
        check = _live_project_check(
            keys.project_key(record.tenant_id, record.project_id),
            now,
            " AND userId = :owner",
            **{":owner": record.owner_id},
        )
        try:
            self.table.transact_write(
                [
                    {
                        "Put": {
                            "Item": record.to_token_item(self.expiry_shards),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Put": {"Item": record.to_project_item(), "ConditionExpression": "attribute_not_exists(pk)"}},
                    check,
                ]
            )
        except TransactionConflict as conflict:
            if conflict.reasons[2:3] == ["ConditionalCheckFailed"]:
                raise NotFound(f"project {record.project_id} not found") from None
            raise

    def find_invite(self, tenant_id: str, token_hash: str) -> InviteRecord | None:
        item = self.table.get(keys.invite_token_key(tenant_id, token_hash))
        return InviteRecord.from_item(item) if item and item.get("entity") == InviteRecord.ENTITY else None

    def get_project_invite(self, tenant_id: str, project_id: str, invite_id: str) -> InviteRecord | None:
        item = self.table.get(keys.project_invite_key(tenant_id, project_id, invite_id))
        return InviteRecord.from_item(item) if item else None

    def list_invites(self, tenant_id: str, project_id: str, *, limit: int, cursor: str | None) -> Page:
        return self._page(tenant_id, project_id, keys.INVITE_PREFIX, InviteRecord.from_item, limit, cursor)

    def revoke_invite(self, record: InviteRecord) -> None:
        try:
            self.table.transact_write(
                [
                    {"Delete": {"Key": record.project_item_key, "ConditionExpression": "attribute_exists(pk)"}},
                    {"Delete": {"Key": record.token_key}},
                ]
            )
        except TransactionConflict as conflict:
            if conflict.reasons[:1] == ["ConditionalCheckFailed"]:
                raise NotFound(f"invite {record.invite_id} not found") from None
            raise

    def accept(self, invite: InviteRecord, member: MemberRecord, activity: ActivityRecord, now: int) -> None:
        """Make the caller a member and use the invite up, in one transaction: the invite's two items
        deleted (it must still be there), META's M#{user} set (the project live, the user neither its
        owner nor a member, fewer than MAX_MEMBERS members), the MEMBER# item and the activity entry."""
        project_key = keys.project_key(invite.tenant_id, invite.project_id)
        try:
            self.table.transact_write(
                [
                    {"Delete": {"Key": invite.token_key, "ConditionExpression": "attribute_exists(pk)"}},
                    {"Delete": {"Key": invite.project_item_key}},
                    {
                        "Update": {
                            "Key": project_key,
                            "UpdateExpression": "SET #m = :role ADD memberCount :one",
                            "ConditionExpression": "#status = :active AND expiresAt > :now AND userId = :owner"
                            " AND userId <> :user AND attribute_not_exists(#m)"
                            " AND (attribute_not_exists(memberCount) OR memberCount < :max)",
                            "ExpressionAttributeNames": {
                                "#status": "status",
                                "#m": keys.member_attribute(member.user_id),
                            },
                            "ExpressionAttributeValues": {
                                ":role": member.role.value,
                                ":one": 1,
                                ":active": ProjectStatus.ACTIVE.value,
                                ":now": now,
                                ":owner": invite.owner_id,
                                ":user": member.user_id,
                                ":max": MAX_MEMBERS,
                            },
                        }
                    },
                    {"Put": {"Item": member.to_item()}},
                    {"Put": {"Item": activity.to_item()}},
                ]
            )
        except TransactionConflict as conflict:
            if conflict.reasons[:1] == ["ConditionalCheckFailed"]:
                raise NotFound("invite not found") from None
            if conflict.reasons[2:3] != ["ConditionalCheckFailed"]:
                raise
            item = self.table.get(project_key)
            if (
                item is None
                or item.get("status") != ProjectStatus.ACTIVE.value
                or int(item.get("expiresAt", 0)) <= now
                or item.get("userId") != invite.owner_id
            ):
                raise NotFound("invite not found") from None
            if item.get("userId") == member.user_id or keys.member_attribute(member.user_id) in item:
                raise AlreadyMember("you are a member of this project already; the invite stays unused") from None
            raise ProjectFull(
                f"the project has {MAX_MEMBERS} members, the most it can have", details={"maxMembers": MAX_MEMBERS}
            ) from None

    # --- members -------------------------------------------------------------------------------

    def list_members(self, tenant_id: str, project_id: str, *, limit: int, cursor: str | None) -> Page:
        return self._page(tenant_id, project_id, keys.MEMBER_PREFIX, MemberRecord.from_item, limit, cursor)

    def get_member(self, tenant_id: str, project_id: str, user_id: str) -> MemberRecord | None:
        item = self.table.get(keys.member_key(tenant_id, project_id, user_id))
        return MemberRecord.from_item(item) if item else None

    def change_role(self, member: MemberRecord, role: Role, activity: ActivityRecord) -> None:
        """A member's new role, on META and on the MEMBER# item together (404 if no longer a member)."""
        self._membership_change(
            member,
            activity,
            meta_update="SET #m = :role",
            values={":role": role.value},
            member_op={
                "Update": {
                    "Key": member.key,
                    "UpdateExpression": "SET #role = :role",
                    "ExpressionAttributeNames": {"#role": "role"},
                    "ExpressionAttributeValues": {":role": role.value},
                }
            },
        )

    def remove_member(self, member: MemberRecord, activity: ActivityRecord) -> None:
        """The member is no longer one (removed, or left): META's M#{user} and the MEMBER# item go together,
        so the member's next request is refused and the project leaves their list (404 if gone already)."""
        self._membership_change(
            member,
            activity,
            meta_update="REMOVE #m ADD memberCount :minus",
            values={":minus": -1},
            member_op={"Delete": {"Key": member.key}},
        )

    def _membership_change(
        self,
        member: MemberRecord,
        activity: ActivityRecord,
        *,
        meta_update: str,
        values: dict[str, Any],
        member_op: dict[str, Any],
    ) -> None:
        try:
            self.table.transact_write(
                [
                    {
                        "Update": {
                            "Key": keys.project_key(member.tenant_id, member.project_id),
                            "UpdateExpression": meta_update,
                            "ConditionExpression": "attribute_exists(#m)",
                            "ExpressionAttributeNames": {"#m": keys.member_attribute(member.user_id)},
                            "ExpressionAttributeValues": values,
                        }
                    },
                    member_op,
                    {"Put": {"Item": activity.to_item()}},
                ]
            )
        except TransactionConflict as conflict:
            if conflict.reasons[:1] == ["ConditionalCheckFailed"]:
                raise NotFound(f"member {member.user_id} not found") from None
            raise

    # --- comments ------------------------------------------------------------------------------

    def add_comment(self, record: CommentRecord) -> None:
        """Count the comment (at most MAX_COMMENTS a project: 409 past it), then write it: two writes of
        one unit each for a comment under 1 KB. A write that fails after the count leaves the count one
        too high (the limit errs on the safe side); it is given back when possible."""
        counter = keys.comment_counter_key(record.tenant_id, record.project_id)
        try:
            self.table.update(
                counter,
                "SET entity = :entity ADD #count :one",
                condition="attribute_not_exists(#count) OR #count < :max",
                names={"#count": "count"},
                values={":entity": "comment_counter", ":one": 1, ":max": MAX_COMMENTS},
                return_new=False,
            )
        except ConditionFailed:
            raise ProjectFull(
                f"the project has {MAX_COMMENTS} comments, the most it can have; delete some first",
                details={"maxComments": MAX_COMMENTS},
            ) from None
        try:
            self.table.put(record.to_item(), condition="attribute_not_exists(pk)")
        except Exception:
            self._uncount(counter)
            raise

    def _uncount(self, counter: dict[str, str]) -> None:
        with contextlib.suppress(Exception):
            self.table.update(
                counter,
                "ADD #count :minus",
                condition="#count > :zero",
                names={"#count": "count"},
                values={":minus": -1, ":zero": 0},
                return_new=False,
            )

    def get_comment(self, tenant_id: str, project_id: str, comment_id: str) -> CommentRecord | None:
        item = self.table.get(keys.comment_key(tenant_id, project_id, comment_id))
        return CommentRecord.from_item(item) if item else None

    def edit_comment(self, record: CommentRecord, text: str, now: int) -> CommentRecord:
        """The author's new text (the condition: still there, still theirs)."""
        try:
            self.table.update(
                record.key,
                "SET #text = :text, editedAt = :now",
                condition="attribute_exists(pk) AND authorId = :author",
                names={"#text": "text"},
                values={":text": text, ":now": now, ":author": record.author_id},
                return_new=False,
            )
        except ConditionFailed:
            raise NotFound(f"comment {record.comment_id} not found") from None
        return record.model_copy(update={"text": text, "edited_at": now})

    def resolve_comment(self, record: CommentRecord, resolved: bool, by: str, now: int) -> CommentRecord:
        try:
            self.table.update(
                record.key,
                "SET resolvedAt = :now, resolvedBy = :by" if resolved else "REMOVE resolvedAt, resolvedBy",
                condition="attribute_exists(pk)",
                values={":now": now, ":by": by} if resolved else None,
                return_new=False,
            )
        except ConditionFailed:
            raise NotFound(f"comment {record.comment_id} not found") from None
        if resolved:
            return record.model_copy(update={"resolved_at": now, "resolved_by": by})
        return record.model_copy(update={"resolved_at": None, "resolved_by": None})

    def delete_comment(self, record: CommentRecord) -> None:
        try:
            self.table.delete(record.key, condition="attribute_exists(pk)")
        except ConditionFailed:
            raise NotFound(f"comment {record.comment_id} not found") from None
        self._uncount(keys.comment_counter_key(record.tenant_id, record.project_id))

    def list_comments(self, tenant_id: str, project_id: str, *, limit: int, cursor: str | None) -> Page:
        """Newest first (comment ids are time-ordered): one backward Query a page."""
        return self._page(
            tenant_id, project_id, keys.COMMENT_PREFIX, CommentRecord.from_item, limit, cursor, forward=False
        )

    # --- activity ------------------------------------------------------------------------------

    def record(self, activity: ActivityRecord) -> None:
        """An activity entry written on its own (a save's, after its commit): a failure is logged, the
        save stands (the entry is a log of what happened, not part of the project)."""
        try:
            self.table.put(activity.to_item())
        except Exception:
            logger.warning("activity entry not written", project_id=activity.project_id, kind=activity.kind.value)

    def activity_after(
        self, tenant_id: str, project_id: str, after_id: str, limit: int
    ) -> tuple[list[ActivityRecord | CommentRecord], bool]:
        """Activity entries and comments with ids after after_id (oldest first), at most limit, and
        whether there are more: two Queries of the project's partition, merged by id (time)."""
        pk = keys.project_pk(tenant_id, project_id)
        merged: list[tuple[str, ActivityRecord | CommentRecord]] = []
        more = False
        for prefix, parse in (
            (keys.ACTIVITY_PREFIX, ActivityRecord.from_item),
            (keys.COMMENT_PREFIX, CommentRecord.from_item),
        ):
            items, last = self.table.query_page(
                key_condition="pk = :pk AND sk BETWEEN :low AND :high",
                values={":pk": pk, ":low": f"{prefix}{after_id}~", ":high": f"{prefix}~"},
                limit=limit,
            )
            more = more or last is not None
            merged.extend((str(i["sk"]).removeprefix(prefix), parse(i)) for i in items)
        merged.sort(key=lambda pair: pair[0])
        return [record for _, record in merged[:limit]], more or len(merged) > limit

    # --- paging --------------------------------------------------------------------------------

    def _page(
        self,
        tenant_id: str,
        project_id: str,
        prefix: str,
        parse: Any,
        limit: int,
        cursor: str | None,
        *,
        forward: bool = True,
    ) -> Page:
        pk = keys.project_pk(tenant_id, project_id)
        start = decode_cursor(cursor, exact={"pk": pk}, prefixes={"sk": prefix})
        items, last = self.table.query_page(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            values={":pk": pk, ":prefix": prefix},
            limit=limit,
            start_key=start,
            forward=forward,
        )
        return Page(items=[parse(i) for i in items], next_cursor=encode_cursor(last))


def new_activity_id(now: int) -> str:
    """A time-ordered id by the API's clock (tests move it), to the millisecond, so that ?since= finds it
    and entries of one second keep their order (now: the request's second)."""
    return ids.new_id(max(clock.now_epoch(), float(now)))
