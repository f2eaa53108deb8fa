"""The project entity: a saved design (photo book, calendar, ...) and the files it uses."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from imagestore import keys
from imagestore.models.files import expiry_attributes


class ProjectStatus(StrEnum):
    CREATING = "creating"  # being created: its holds are being acquired; invisible to readers
    ACTIVE = "active"
    DELETING = "deleting"  # deleted or expired: invisible; removed once no pin keeps it


SCHEMA = 2  # written on every META: document and file list in an S3 manifest, holds recorded on the files
LOCK_SECONDS = 60  # a save's lock may be taken over after this (the API function times out at 29 s)
MAX_PREVIEW_FAILED = 10  # file ids a META's previewFailed keeps (META stays under 1 KB: one WCU a write)

# The attributes of the META item (ProjectRecord.to_item) a save does not write: a save writes every
# other attribute of the saved record's item (imagestore.data.projects.ProjectStore._commit_update), so
# an attribute added to the item is saved without anyone having to remember it.
NOT_SAVED: dict[str, str] = {
    "pk": "the key",
    "sk": "the key",
    "entity": "set at creation",
    "tenantId": "set at creation",
    "userId": "set at creation",
    "projectId": "set at creation",
    "createdAt": "set at creation",
    "baseProjectId": "set at creation",
    "schema": "set at creation",
    "gsi1pk": "set at activation (the owner's list)",
    "status": "the save requires active; create, delete and removal change it",
    "pinCount": "pins and unpins change it concurrently (ADD); a save only conditions on it",
    "lockEpoch": "taking the lock moves it (ADD); a save only holds the lock",
    "lockId": "the lock's",
    "lockUntil": "the lock's",
    "lockPhase": "the lock's",
    "lockManifestKey": "the lock's",
    "xpk": "the expiry index entry stays (the sweep refiles a live project it finds due)",
    "xsk": "as xpk",
    "ttl": "follows the expiry and the pin count (imagestore.data.projects._expiry_ttl)",
    "takenOver": "set by a takeover of the lock, in the same write (never written back from a record read before)",
    "previewFailed": "added to (ADD) by the previews function and by acquires that find a failed file",
}
# Attributes by prefix that a save does not write either.
NOT_SAVED_PREFIXES: dict[str, str] = {
    keys.MEMBER_ATTRIBUTE_PREFIX: "a member's role: accept, role change, removal (imagestore.data.collaboration)",
}


def is_saved(attribute: str) -> bool:
    """Whether a save writes this attribute of the META item (all but NOT_SAVED and NOT_SAVED_PREFIXES)."""
    return attribute not in NOT_SAVED and not attribute.startswith(tuple(NOT_SAVED_PREFIXES))


class ProjectLock(BaseModel):
    """A save (or removal) in progress: only its holder changes the project's holds, fenced by epoch."""

    model_config = ConfigDict(frozen=True)

    lock_id: str
    epoch: int
    until: int
    manifest_key: str | None  # the manifest the save is writing (its acquisitions follow from it)
    phase: str  # "acquire" (before its commit) or "release" (committed, releasing what it dropped)


class ProjectRecord(BaseModel):
    """A project's META item: small whatever the project's size. Its document and file list are the
    version's manifest in S3 (manifest_key; imagestore.models.manifests), its holds are recorded on
    the files (imagestore.data.holds). Every META carries `schema` = SCHEMA, so that a future change
    of shape can tell old items from new (docs/holds.md, "Changing the shape")."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "project"

    tenant_id: str
    user_id: str
    project_id: str
    name: str
    product_type: str
    version: int
    created_at: int
    saved_at: int
    expires_at: int
    status: ProjectStatus = ProjectStatus.ACTIVE
    manifest_key: str | None = None
    file_count: int = 0
    lock: ProjectLock | None = None
    lock_epoch: int = 0
    pin_count: int = 0
    base_project_id: str | None = None  # a copy: the original whose pinned version it started from
    # Members and their roles (attributes M#{userId} of META, written by membership changes only, never
    # by a save: NOT_SAVED_PREFIXES), so that one GetItem of META decides what a caller may do.
    members: dict[str, str] = {}

    def role_of(self, user_id: str) -> str | None:
        """ "owner", the member's role ("editor", "commenter", "viewer"), or None for anyone else."""
        return "owner" if user_id == self.user_id else self.members.get(user_id)

    # Its lock was once taken over from a save or removal that may still be running (stalled): its
    # releases then leave tombstones on the files (imagestore.data.holds). Set only by the takeover's
    # own write (NOT_SAVED: a save must not write back what it read before).
    taken_over: bool = False
    # Files of the project whose previews failed, as the previews function and the acquires found them
    # (only ever added to, by ADD; at most MAX_PREVIEW_FAILED): views show them failed without reading
    # the files (NOT_SAVED, like taken_over).
    preview_failed: frozenset[str] = frozenset()

    def live_lock(self, now: float) -> ProjectLock | None:
        return self.lock if self.lock is not None and self.lock.until > now else None

    @property
    def base_pin_key(self) -> dict[str, str] | None:
        if self.base_project_id is None:
            return None
        return keys.pin_key(keys.project_pk(self.tenant_id, self.base_project_id), self.pk)

    @property
    def pk(self) -> str:
        return keys.project_pk(self.tenant_id, self.project_id)

    @property
    def key(self) -> dict[str, str]:
        return {"pk": self.pk, "sk": keys.META}

    def is_live(self, now: float) -> bool:
        return self.status is ProjectStatus.ACTIVE and self.expires_at > now

    def to_item(self, expiry_shards: int, *, due_at: int | None = None) -> dict[str, Any]:
        """The META item; due_at files it in the expiry index then instead of at expiry."""
        item: dict[str, Any] = {
            **self.key,
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "userId": self.user_id,
            "projectId": self.project_id,
            "name": self.name,
            "productType": self.product_type,
            "version": self.version,
            "createdAt": self.created_at,
            "savedAt": self.saved_at,
            "expiresAt": self.expires_at,
            "status": self.status.value,
            "schema": SCHEMA,
            "fileCount": self.file_count,
            "lockEpoch": self.lock_epoch,
            "pinCount": self.pin_count,
            **expiry_attributes(self.key, self.expires_at, expiry_shards),
        }
        if self.status is not ProjectStatus.CREATING:
            item.update(
                gsi1pk=keys.projects_of_user(self.tenant_id, self.user_id),
                gsi1sk=keys.by_time(self.saved_at, self.project_id),
            )
        if due_at is not None:
            item["xsk"] = keys.expiry_sort(due_at, self.pk, keys.META)
        item.update({keys.member_attribute(user): role for user, role in self.members.items()})
        for name, value in (("manifestKey", self.manifest_key), ("baseProjectId", self.base_project_id)):
            if value is not None:
                item[name] = value
        if self.taken_over:
            item["takenOver"] = True
        if self.preview_failed:
            item["previewFailed"] = set(self.preview_failed)
        if self.lock is not None:
            item.update(lockId=self.lock.lock_id, lockUntil=self.lock.until, lockPhase=self.lock.phase)
            if self.lock.manifest_key is not None:
                item["lockManifestKey"] = self.lock.manifest_key
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ProjectRecord:
        return cls(
            tenant_id=item["tenantId"],
            user_id=item["userId"],
            project_id=item["projectId"],
            name=item["name"],
            product_type=item["productType"],
            version=int(item["version"]),
            created_at=int(item["createdAt"]),
            saved_at=int(item["savedAt"]),
            expires_at=int(item["expiresAt"]),
            status=ProjectStatus(item.get("status", "active")),
            manifest_key=item.get("manifestKey"),
            file_count=int(item.get("fileCount", 0)),
            lock=ProjectLock(
                lock_id=item["lockId"],
                epoch=int(item.get("lockEpoch", 0)),
                until=int(item.get("lockUntil", 0)),
                manifest_key=item.get("lockManifestKey"),
                phase=item.get("lockPhase", "acquire"),
            )
            if item.get("lockId")
            else None,
            lock_epoch=int(item.get("lockEpoch", 0)),
            pin_count=int(item.get("pinCount", 0)),
            base_project_id=item.get("baseProjectId"),
            members={
                name.removeprefix(keys.MEMBER_ATTRIBUTE_PREFIX): str(value)
                for name, value in item.items()
                if name.startswith(keys.MEMBER_ATTRIBUTE_PREFIX)
            },
            taken_over=bool(item.get("takenOver", False)),
            preview_failed=frozenset(item.get("previewFailed") or ()),
        )
