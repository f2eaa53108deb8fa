"""Collaboration on a project: members and their roles, invites, comments, activity.

Where each lives (imagestore.keys, "collaboration"): a member's role is an attribute of the project's
META (M#{userId}) and an item MEMBER#{userId} of the project's partition, which also files the project
in the member's own list (gsi1). An invite is two items, as a share is: the token item (looked up by
the token's hash) and INVITE#{id} in the project's partition, each the other's companion. Comments and
activity entries are items of the project's partition; they go with it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from imagestore import keys
from imagestore.models.files import expiry_attributes

MAX_MEMBERS = 50  # members of one project, the owner not counted
MAX_COMMENTS = 10_000  # comments of one project (its counter item)
MAX_COMMENT_BYTES = 4096  # a comment's text, UTF-8


class Role(StrEnum):
    EDITOR = "editor"  # reads, saves (If-Match), adds their own files, comments, resolves comments
    COMMENTER = "commenter"  # reads and comments
    VIEWER = "viewer"  # reads


OWNER = "owner"
CAN_SAVE = frozenset({OWNER, Role.EDITOR.value})
CAN_COMMENT = frozenset({OWNER, Role.EDITOR.value, Role.COMMENTER.value})


class InviteRecord(BaseModel):
    """An invite to a project with a role: a capability link (random token, only its hash stored),
    revocable, expiring; used once (accepting it deletes it)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "invite"

    tenant_id: str
    owner_id: str
    project_id: str
    invite_id: str
    token_hash: str
    role: Role
    created_at: int
    expires_at: int

    @property
    def token_key(self) -> dict[str, str]:
        return keys.invite_token_key(self.tenant_id, self.token_hash)

    @property
    def project_item_key(self) -> dict[str, str]:
        return keys.project_invite_key(self.tenant_id, self.project_id, self.invite_id)

    def is_live(self, now: float) -> bool:
        return self.expires_at > now

    def _attributes(self) -> dict[str, Any]:
        return {
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "ownerId": self.owner_id,
            "projectId": self.project_id,
            "inviteId": self.invite_id,
            "tokenHash": self.token_hash,
            "role": self.role.value,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
        }

    def to_token_item(self, expiry_shards: int) -> dict[str, Any]:
        """The lookup item: in the expiry index (and TTL), removed by the sweep with its companion."""
        return {
            **self.token_key,
            **self._attributes(),
            "companionKeys": [self.project_item_key],
            **expiry_attributes(self.token_key, self.expires_at, expiry_shards),
        }

    def to_project_item(self) -> dict[str, Any]:
        return {**self.project_item_key, **self._attributes(), "companionKeys": [self.token_key]}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> InviteRecord:
        return cls(
            tenant_id=item["tenantId"],
            owner_id=item["ownerId"],
            project_id=item["projectId"],
            invite_id=item["inviteId"],
            token_hash=item["tokenHash"],
            role=Role(item["role"]),
            created_at=int(item["createdAt"]),
            expires_at=int(item["expiresAt"]),
        )


class MemberRecord(BaseModel):
    """A member of a project (MEMBER#{userId}), filed in the member's projects list (gsi1)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "member"

    tenant_id: str
    project_id: str
    user_id: str
    role: Role
    joined_at: int
    invited_by: str

    @property
    def key(self) -> dict[str, str]:
        return keys.member_key(self.tenant_id, self.project_id, self.user_id)

    def to_item(self) -> dict[str, Any]:
        return {
            **self.key,
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "projectId": self.project_id,
            "userId": self.user_id,
            "role": self.role.value,
            "joinedAt": self.joined_at,
            "invitedBy": self.invited_by,
            "gsi1pk": keys.projects_of_user(self.tenant_id, self.user_id),
            "gsi1sk": keys.by_time(self.joined_at, self.project_id),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> MemberRecord:
        return cls(
            tenant_id=item["tenantId"],
            project_id=item["projectId"],
            user_id=item["userId"],
            role=Role(item["role"]),
            joined_at=int(item["joinedAt"]),
            invited_by=item["invitedBy"],
        )


class CommentRecord(BaseModel):
    """A comment on a project (COMMENT#{id}; the id is time-ordered by the API's clock)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "comment"

    tenant_id: str
    project_id: str
    comment_id: str
    author_id: str
    text: str
    anchor: str | None = None
    created_at: int
    edited_at: int | None = None
    resolved_at: int | None = None
    resolved_by: str | None = None

    @property
    def key(self) -> dict[str, str]:
        return keys.comment_key(self.tenant_id, self.project_id, self.comment_id)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self.key,
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "projectId": self.project_id,
            "commentId": self.comment_id,
            "authorId": self.author_id,
            "text": self.text,
            "createdAt": self.created_at,
        }
        for name, value in (
            ("anchor", self.anchor),
            ("editedAt", self.edited_at),
            ("resolvedAt", self.resolved_at),
            ("resolvedBy", self.resolved_by),
        ):
            if value is not None:
                item[name] = value
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> CommentRecord:
        return cls(
            tenant_id=item["tenantId"],
            project_id=item["projectId"],
            comment_id=item["commentId"],
            author_id=item["authorId"],
            text=item["text"],
            anchor=item.get("anchor"),
            created_at=int(item["createdAt"]),
            edited_at=int(item["editedAt"]) if "editedAt" in item else None,
            resolved_at=int(item["resolvedAt"]) if "resolvedAt" in item else None,
            resolved_by=item.get("resolvedBy"),
        )


class ActivityKind(StrEnum):
    SAVED = "saved"
    JOINED = "joined"
    LEFT = "left"
    REMOVED = "removed"
    ROLE_CHANGED = "role_changed"
    COMMENTED = "commented"  # not stored: the comments themselves are read (imagestore.data.collaboration)


class ActivityRecord(BaseModel):
    """One thing that happened to a project (ACT#{id}; the id is time-ordered by the API's clock)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "activity"

    tenant_id: str
    project_id: str
    activity_id: str
    kind: ActivityKind
    user_id: str  # who did it (the saver, the member who joined or left, the owner who removed)
    at: int
    version: int | None = None  # a save's new version
    files_added: int | None = None  # a save: files the project did not have before
    files_removed: int | None = None  # a save: files it no longer has
    subject_id: str | None = None  # a removal or role change: the member it was about
    role: str | None = None  # a join or role change: the role
    comment_id: str | None = None  # a comment (not stored; built from the comment)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            **keys.activity_key(self.tenant_id, self.project_id, self.activity_id),
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "projectId": self.project_id,
            "activityId": self.activity_id,
            "kind": self.kind.value,
            "userId": self.user_id,
            "at": self.at,
        }
        for name, value in (
            ("version", self.version),
            ("filesAdded", self.files_added),
            ("filesRemoved", self.files_removed),
            ("subjectId", self.subject_id),
            ("role", self.role),
        ):
            if value is not None:
                item[name] = value
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ActivityRecord:
        def num(name: str) -> int | None:
            return int(item[name]) if name in item else None

        return cls(
            tenant_id=item["tenantId"],
            project_id=item["projectId"],
            activity_id=item["activityId"],
            kind=ActivityKind(item["kind"]),
            user_id=item["userId"],
            at=int(item["at"]),
            version=num("version"),
            files_added=num("filesAdded"),
            files_removed=num("filesRemoved"),
            subject_id=item.get("subjectId"),
            role=item.get("role"),
        )
