"""Projects of the single table, and the protocol by which a project holds its files (holds v2).

Shape. A project's partition holds its small META item (version, name, status, lock, pin count; no
document, no file list), its shares, and the pins of the holders that keep one of its versions. The
document and the file list of each version are an immutable manifest object in S3
(imagestore.models.manifests). The project's holds are recorded on the files (imagestore.data.holds).

Invariant: while the project's partition exists, every file its current version lists is held by the
project or by its base pin (a copy's original), and so is every file of every version a live pin names.

How each writer keeps it:
- A save that changes no hold is one conditional UpdateItem of META (version = n, active, unlocked):
  the file list changes only in the manifest, whose holds are those of version n.
- A save that adds or drops files takes META's lock (version = n, active, no live lock; lockEpoch + 1),
  acquires the added files under that epoch, commits (version n+1, still locked, pinCount = 0 if it
  releases anything), releases what version n+1 no longer uses, and unlocks. Every hold change of
  the project happens under its lock, so two saves never interleave their hold changes: concurrent
  saves of one version get one winner, the others 412 (version moved) or 409 (save in progress).
  Nothing is released before the commit, so a save that fails leaves version n whole; what it acquired
  it releases again (or, if it died, the next lock holder does: the lock names the save's manifest, so
  the taker knows what the dead save may have acquired, or, after its commit, what it had to release).
- While the project is pinned (pinCount > 0: a cart item, an order or a copy keeps one of its
  versions) a save releases nothing: every file of every version since the first pin stays held
  (the manifest's `held`). The first save after the last pin went releases what its version does not use.
- Deleting a project only marks it (`deleting`, due now in the expiry index): the sweep removes it,
  under the lock, once no pin keeps it: releases every hold (and what a dead save may have acquired),
  drops its own pin on its base, deletes its items and manifests.
- A pin is a PIN# item plus pinCount + 1 on META, in the pinning holder's own transaction, on the
  condition that the pinned version is current: its files are held at that moment, and nothing is
  released while the pin exists. Unpinning is the opposite transaction (idempotent: the PIN item is
  the proof) and makes the project due now, so the sweep removes a deleted project without waiting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imagestore import ids, keys
from imagestore.data.holds import Acquisition, HoldStore, LockLost
from imagestore.data.pagination import Page, decode_cursor, encode_cursor
from imagestore.data.partitions import HolderPartition, Removed, read_partition, remove_belongings
from imagestore.data.storage import ImageBucket
from imagestore.data.table import Table
from imagestore.data.webhooks import event_log_items
from imagestore.errors import (
    ConditionFailed,
    Conflict,
    NotFound,
    PreconditionFailed,
    TransactionConflict,
    Unprocessable,
)
from imagestore.models.files import TTL_GRACE_SECONDS, PreviewStatus
from imagestore.models.holds import FileRef
from imagestore.models.manifests import Manifest
from imagestore.models.projects import (
    LOCK_SECONDS,
    MAX_PREVIEW_FAILED,
    ProjectLock,
    ProjectRecord,
    ProjectStatus,
    is_saved,
)
from imagestore.models.webhooks import WebhookEvent

EDITOR_ROLE = "editor"  # imagestore.models.collaboration.Role.EDITOR: the role that may save
ACQUIRE = "acquire"
RELEASE = "release"
LOCK_FIELDS = "lockId, lockUntil, lockManifestKey, lockPhase"


class SaveInProgress(Conflict):
    """Another save of the project holds its lock."""

    code = "save_in_progress"
    retryable = True


@dataclass(frozen=True)
class Draft:
    """What a save writes: the new version's fields and every file it uses, in order."""

    name: str
    product_type: str
    document: Any
    files: list[FileRef]
    saved_at: int
    expires_at: int


class ProjectStore:
    """Projects: reading, saving under the hold protocol above, pinning, removing."""

    def __init__(self, table: Table, holds: HoldStore, bucket: ImageBucket, expiry_shards: int) -> None:
        self.table = table
        self.holds = holds
        self.bucket = bucket
        self.expiry_shards = expiry_shards

    # --- reading -----------------------------------------------------------------------------

    def get(self, tenant_id: str, project_id: str, *, consistent: bool = True) -> ProjectRecord | None:
        """The project's META (one GetItem of a small item: consistent, unless a poll asks for less)."""
        item = self.table.get(keys.project_key(tenant_id, project_id), consistent=consistent)
        return ProjectRecord.from_item(item) if item and item.get("entity") == ProjectRecord.ENTITY else None

    def manifest(self, record: ProjectRecord) -> Manifest | None:
        """The record's version (document and files): one S3 GET. None when the manifest is gone (a
        newer save replaced it: read META again)."""
        assert record.manifest_key is not None
        body = self.bucket.read(record.manifest_key)
        return Manifest.from_bytes(body) if body is not None else None

    def load(self, tenant_id: str, project_id: str) -> tuple[ProjectRecord, Manifest] | None:
        """META and its manifest, consistent with each other (a save racing the read: read again)."""
        for _ in range(3):
            record = self.get(tenant_id, project_id)
            if record is None:
                return None
            manifest = self.manifest(record)
            if manifest is not None:
                return record, manifest
        raise Conflict(f"project {project_id} is being saved; retry")

    def extend(self, record: ProjectRecord, expires_at: int) -> None:
        """Push the project's expiry forward (a load counts as use), and its TTL with it in the same
        write (see _expiry_ttl); lost races are harmless. Its index entry stays: the sweep that finds it
        due files it under the new expiry."""
        pinned = record.pin_count > 0
        for _ in range(2):
            ttl = _expiry_ttl(expires_at, pinned=pinned)
            try:
                self.table.update(
                    record.key,
                    f"SET expiresAt = :e{ttl.set} {ttl.remove}",
                    condition="version = :v AND #status = :active AND " + ttl.condition,
                    names={"#status": "status", "#ttl": "ttl"},
                    values={
                        ":e": expires_at,
                        ":v": record.version,
                        ":active": ProjectStatus.ACTIVE.value,
                        **ttl.values,
                    },
                    return_new=False,
                )
                return
            except ConditionFailed:
                stored = self.get(record.tenant_id, record.project_id)
            if stored is None or stored.version != record.version or (stored.pin_count > 0) == pinned:
                return  # saved, deleted or gone meanwhile
            pinned = not pinned  # pinned or unpinned meanwhile: once more with the TTL that goes with it

    def list_projects(self, tenant_id: str, user_id: str, *, limit: int, cursor: str | None) -> Page:
        """The user's projects, most recently saved (or, for a project they are a member of, joined) first:
        one Query of index gsi1, where the user's own METAs and their MEMBER# items are filed; plus one
        BatchGetItem of the METAs of the page's memberships (name, version: they change with every save).
        A membership of a project that is no longer live is left out."""
        gsi1pk = keys.projects_of_user(tenant_id, user_id)
        start = decode_cursor(
            cursor, exact={"gsi1pk": gsi1pk}, prefixes={"pk": keys.project_pk(tenant_id, ""), "sk": "", "gsi1sk": ""}
        )
        items, last = self.table.query_page(
            index="gsi1",
            key_condition="gsi1pk = :pk",
            values={":pk": gsi1pk},
            limit=limit,
            forward=False,
            start_key=start,
        )
        member_of = [i for i in items if str(i["sk"]).startswith(keys.MEMBER_PREFIX)]
        metas = {
            m["pk"]: ProjectRecord.from_item(m)
            for m in (self.table.batch_get([{"pk": i["pk"], "sk": keys.META} for i in member_of]) if member_of else [])
            if m.get("entity") == ProjectRecord.ENTITY
        }
        records = []
        for item in items:
            if item["sk"] == keys.META:
                records.append(ProjectRecord.from_item(item))
            elif item["pk"] in metas and metas[item["pk"]].status is ProjectStatus.ACTIVE:
                records.append(metas[item["pk"]])
        return Page(items=records, next_cursor=encode_cursor(last))

    # --- creating and saving -----------------------------------------------------------------

    def create(
        self, record: ProjectRecord, manifest: Manifest, now: int, pin: list[dict[str, Any]] | None = None
    ) -> ProjectRecord:
        """Write a new project (or copy) and hold its files: META `creating` and locked, due in the
        index when the lock runs out (so the sweep undoes a creation that died), then the holds, then
        active. A file gone meanwhile undoes it all (422). pin: operations pinning the original a copy
        starts from, written with META in one transaction (409 if the original changed meanwhile)."""
        manifest_key = self._put_manifest(record, manifest)
        if not manifest.held:
            # Nothing to acquire (a copy: its files are its pin's): written active, with its pin, at once.
            done = record.model_copy(update={"manifest_key": manifest_key, "file_count": len(manifest.files)})
            self._put_new(done.to_item(self.expiry_shards), pin, manifest_key)
            return done
        lock = ProjectLock(
            lock_id=ids.new_id(), epoch=1, until=now + LOCK_SECONDS, manifest_key=manifest_key, phase=ACQUIRE
        )
        creating = record.model_copy(
            update={
                "status": ProjectStatus.CREATING,
                "manifest_key": manifest_key,
                "lock": lock,
                "lock_epoch": 1,
                "file_count": len(manifest.files),
            }
        )
        self._put_new(creating.to_item(self.expiry_shards, due_at=lock.until + 1), pin, manifest_key)
        acquired = self._acquire(creating, lock, list(manifest.held), now, manifest.owners)
        failed = _newly_failed(creating, manifest, acquired.failed)
        done = creating.model_copy(
            update={"status": ProjectStatus.ACTIVE, "lock": None, "preview_failed": frozenset(failed)}
        )
        entry = done.to_item(self.expiry_shards)
        try:
            self.table.update(
                done.key,
                f"SET #status = :active, gsi1pk = :g1pk, gsi1sk = :g1sk, xsk = :xsk REMOVE {LOCK_FIELDS}"
                + (" ADD previewFailed :failed" if failed else ""),
                condition="lockId = :lock",
                names={"#status": "status"},
                values={
                    ":active": ProjectStatus.ACTIVE.value,
                    ":g1pk": entry["gsi1pk"],
                    ":g1sk": entry["gsi1sk"],
                    ":xsk": entry["xsk"],
                    ":lock": lock.lock_id,
                    **({":failed": set(failed)} if failed else {}),
                },
                return_new=False,
            )
        except ConditionFailed:
            raise Conflict("the project could not be created in time; retry") from None
        return done

    def _put_new(self, item: dict[str, Any], pin: list[dict[str, Any]] | None, manifest_key: str) -> None:
        """A new META, with the pin operations in the same transaction when there are any."""
        try:
            if pin:
                self.table.transact_write(
                    [{"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}, *pin]
                )
            else:
                self.table.put(item, condition="attribute_not_exists(pk)")
        except TransactionConflict:
            self.bucket.delete_objects([manifest_key])
            raise Conflict("the shared project was changed or deleted while copying it; retry") from None

    def save(
        self, current: ProjectRecord, base: Manifest, draft: Draft, now: int, *, editor_id: str | None = None
    ) -> tuple[ProjectRecord, Manifest]:
        """Save version current.version + 1 (see the module doc); 412 if current is no longer the
        stored version, 409 while another save holds the lock, 422 if an added file is gone.

        editor_id: a member (not the owner) saving: the lock and the commit are also conditioned on META
        still naming them an editor, so a member removed (or made a viewer) mid-save commits nothing
        (404, their acquisitions released as for any failed save)."""
        new_ids = [ref.file_id for ref in draft.files]
        keep = set(new_ids)
        covered = base.covered
        added = [f for f in new_ids if f not in covered]
        released = [] if current.pin_count > 0 else [f for f in base.held if f not in keep]
        held = [f for f in base.held if f not in set(released)] + added
        # Whose partition each held file is in: members add their own files (docs/collaboration.md).
        owners = {**base.owners, **{r.file_id: r.owner_id for r in draft.files if r.owner_id != current.user_id}}
        owners = {f: owners[f] for f in (*held, *released) if f in owners}
        manifest = Manifest(
            project_id=current.project_id,
            version=current.version + 1,
            document=draft.document,
            files=tuple(draft.files),
            held=tuple(held),
            base_files=base.base_files,
            released=tuple(released),
            owners=owners,
        )
        saved = current.model_copy(
            update={
                "version": current.version + 1,
                "name": draft.name,
                "product_type": draft.product_type,
                "saved_at": draft.saved_at,
                "expires_at": draft.expires_at,
                "file_count": len(new_ids),
                "lock": None,
            }
        )
        manifest_key = self._put_manifest(saved, manifest)
        saved = saved.model_copy(update={"manifest_key": manifest_key})
        committed = locked = False
        # A release leaves a tombstone once the project's lock was ever taken over (imagestore.data.holds).
        tombstone = current.taken_over or current.lock is not None
        try:
            if not added and not released and current.lock is None:
                self._commit_unlocked(current, saved, editor_id)
                committed = True
            else:
                lock = self._lock(current, manifest_key, now, editor_id)
                locked = True
                try:
                    if current.lock is not None:
                        saved = saved.model_copy(update={"taken_over": True})
                        self._take_over(current, base, lock, now)
                    failed = _newly_failed(current, manifest, self._acquire(saved, lock, added, now, owners).failed)
                    self._commit_locked(
                        saved,
                        lock,
                        added,
                        releasing=bool(released),
                        now=now,
                        editor_id=editor_id,
                        owners=owners,
                        failed=failed,
                        tombstone=tombstone,
                    )
                    committed = True
                    saved = saved.model_copy(update={"preview_failed": current.preview_failed | set(failed)})
                    if released:
                        self.holds.release(
                            saved.tenant_id,
                            saved.user_id,
                            saved.project_id,
                            lock.epoch,
                            released,
                            now,
                            owners=owners,
                            tombstone=tombstone,
                        )
                        self._unlock(saved, lock)
                except LockLost:
                    if committed:  # saved; the save that took the lock over finishes the releases
                        return saved, manifest
                    # Stalled past the lease and taken over: let go of what this save acquired itself (the
                    # taker fenced every file our manifest names; this covers any it could not know of).
                    self.holds.release(
                        saved.tenant_id,
                        saved.user_id,
                        saved.project_id,
                        lock.epoch,
                        added,
                        now,
                        own=True,
                        owners=owners,
                    )
                    raise SaveInProgress("another save took this project over; load it again and retry") from None
        except LockLost:
            raise
        except Exception:
            if locked and not committed:
                # Failed while holding the lock (a throttled or failed call): the lock names this manifest, which
                # the next lock holder reads to undo the holds this save acquired. It must stay.
                locked = False
                manifest_key = ""
            raise
        finally:
            if not committed and manifest_key:
                self.bucket.delete_objects([manifest_key])
        if current.manifest_key:
            self.bucket.delete_objects([current.manifest_key])  # a reader that still had it reads META again
        return saved, manifest

    def _commit_unlocked(self, current: ProjectRecord, saved: ProjectRecord, editor_id: str | None) -> None:
        pinned = current.pin_count > 0
        member = _editor_condition(editor_id)
        for _ in range(3):
            ttl = _expiry_ttl(saved.expires_at, pinned=pinned)
            try:
                self.table.update(
                    saved.key,
                    self._commit_expression(saved, ttl),
                    condition="version = :n AND #status = :active AND attribute_not_exists(lockId) AND "
                    + ttl.condition
                    + member.condition,
                    values={
                        **self._commit_values(saved),
                        **ttl.values,
                        **member.values,
                        ":n": current.version,
                        ":active": ProjectStatus.ACTIVE.value,
                    },
                    names={**self._commit_names(saved), **member.names, "#status": "status", "#ttl": "ttl"},
                    return_new=False,
                )
                return
            except ConditionFailed:
                stored = self.get(current.tenant_id, current.project_id)
            if (
                stored is None
                or stored.status is not ProjectStatus.ACTIVE
                or stored.version != current.version
                or stored.lock is not None
                or (stored.pin_count > 0) == pinned
            ):
                break
            pinned = not pinned  # pinned or unpinned since it was read: commit with the TTL that goes with it
        raise self._refusal(current, editor_id)

    def _commit_locked(
        self,
        saved: ProjectRecord,
        lock: ProjectLock,
        added: list[str],
        *,
        releasing: bool,
        now: int,
        editor_id: str | None = None,
        owners: dict[str, str] | None = None,
        failed: list[str] | None = None,
        tombstone: bool = False,
    ) -> None:
        """The new version, if we still hold the lock and the project is active (and, when the save
        releases anything, unpinned); else undo the acquisitions, unlock and say why (404, 409)."""
        # A save that releases requires the project unpinned (its TTL then follows the expiry); one that
        # does not commits with the TTL that goes with the pin count it reads (once more if that changed).
        pinned = saved.pin_count > 0 and not releasing
        member = _editor_condition(editor_id)
        for _ in range(3):
            ttl = _expiry_ttl(saved.expires_at, pinned=pinned)
            values = {
                **self._commit_values(saved),
                **ttl.values,
                **member.values,
                ":lock": lock.lock_id,
                ":active": ProjectStatus.ACTIVE.value,
            }
            if releasing:
                values[":release"] = RELEASE
            if failed:
                values[":failed"] = set(failed)
            try:
                self.table.update(
                    saved.key,
                    self._commit_expression(saved, ttl, lock_phase=RELEASE if releasing else None)
                    + (" ADD previewFailed :failed" if failed else ""),
                    condition="lockId = :lock AND #status = :active AND " + ttl.condition + member.condition,
                    values=values,
                    names={**self._commit_names(saved), **member.names, "#status": "status", "#ttl": "ttl"},
                    return_new=False,
                )
                return
            except ConditionFailed:
                stored = self.get(saved.tenant_id, saved.project_id)
            if stored is None or stored.lock is None or stored.lock.lock_id != lock.lock_id:
                raise LockLost("the save lost its lock")
            if (
                releasing
                or stored.status is not ProjectStatus.ACTIVE
                or (stored.pin_count > 0) == pinned
                or not _still_editor(stored, editor_id)
            ):
                break
            pinned = not pinned
        self.holds.release(
            saved.tenant_id,
            saved.user_id,
            saved.project_id,
            lock.epoch,
            added,
            now,
            owners=owners,
            tombstone=tombstone,
        )
        self._unlock(saved, lock)
        if stored is None or stored.status is not ProjectStatus.ACTIVE or not _still_editor(stored, editor_id):
            raise NotFound(f"project {saved.project_id} not found")
        raise Conflict("the project was added to a cart or an order while saving; retry")

    def _commit_expression(self, saved: ProjectRecord, ttl: _ExpiryTtl, *, lock_phase: str | None = None) -> str:
        """The save's UpdateExpression: SET every attribute of saved's item but those a save leaves alone
        (NOT_SAVED), named #s_<attribute> with the value :s_<attribute> (_commit_names, _commit_values);
        the TTL as ttl says; the lock removed (or, for a save that releases next, kept in its release phase)."""
        expression = "SET " + ", ".join(f"#s_{name} = :s_{name}" for name in self._saved_attributes(saved)) + ttl.set
        remove = [] if lock_phase is not None else [LOCK_FIELDS]
        if ttl.remove:
            remove.append("#ttl")
        if lock_phase is not None:
            expression += ", lockPhase = :release"
        return expression + (" REMOVE " + ", ".join(remove) if remove else "")

    def _commit_values(self, saved: ProjectRecord) -> dict[str, Any]:
        return {f":s_{name}": value for name, value in self._saved_attributes(saved).items()}

    def _commit_names(self, saved: ProjectRecord) -> dict[str, str]:
        return {f"#s_{name}": name for name in self._saved_attributes(saved)}

    def _saved_attributes(self, saved: ProjectRecord) -> dict[str, Any]:
        """What a save writes: the saved record's item (ProjectRecord.to_item) but NOT_SAVED."""
        return {name: value for name, value in saved.to_item(self.expiry_shards).items() if is_saved(name)}

    def _refusal(self, current: ProjectRecord, editor_id: str | None = None) -> Exception:
        """Why a conditional write on current's META failed: 404 (also: the saving member is no longer
        an editor), 412 or 409."""
        stored = self.get(current.tenant_id, current.project_id)
        if stored is None or stored.status is not ProjectStatus.ACTIVE or not _still_editor(stored, editor_id):
            return NotFound(f"project {current.project_id} not found")
        if stored.version != current.version:
            return PreconditionFailed(
                f"project {current.project_id} is at version {stored.version}, not {current.version}",
                details={"currentVersion": stored.version},
            )
        return SaveInProgress(f"project {current.project_id} is being saved by another request; retry")

    def _lock(
        self, current: ProjectRecord, manifest_key: str | None, now: int, editor_id: str | None = None
    ) -> ProjectLock:
        """Take META's lock with the next epoch: free, or, when current shows it held, held past its lease
        (a takeover: META is marked takenOver in the same write, so that from then on its releases leave
        tombstones; a lock taken meanwhile by another save is 409 rather than a takeover nobody undoes)."""
        lock_id = ids.new_id()
        member = _editor_condition(editor_id)
        takeover = current.lock is not None
        condition = (
            ("(attribute_not_exists(lockId) OR lockUntil < :now)" if takeover else "attribute_not_exists(lockId)")
            + " AND version = :n AND #status = :active"
            + member.condition
        )
        values: dict[str, Any] = {
            **member.values,
            ":lock": lock_id,
            ":until": now + LOCK_SECONDS,
            ":phase": ACQUIRE,
            ":one": 1,
            **({":now": now} if takeover else {}),
            ":n": current.version,
            ":active": ProjectStatus.ACTIVE.value,
        }
        expression = "SET lockId = :lock, lockUntil = :until, lockPhase = :phase"
        if takeover:
            expression += ", takenOver = :true"
            values[":true"] = True
        if manifest_key is not None:
            expression += ", lockManifestKey = :manifest"
            values[":manifest"] = manifest_key
        else:
            expression += " REMOVE lockManifestKey"
        try:
            item = self.table.update(
                current.key,
                expression + " ADD lockEpoch :one",
                condition=condition,
                names={"#status": "status", **member.names},
                values=values,
            )
        except ConditionFailed:
            raise self._refusal(current, editor_id) from None
        assert item is not None
        return ProjectLock(
            lock_id=lock_id,
            epoch=int(item["lockEpoch"]),
            until=now + LOCK_SECONDS,
            manifest_key=manifest_key,
            phase=ACQUIRE,
        )

    def _unlock(self, record: ProjectRecord, lock: ProjectLock) -> None:
        try:
            self.table.update(
                record.key,
                f"REMOVE {LOCK_FIELDS}",
                condition="lockId = :lock",
                values={":lock": lock.lock_id},
                return_new=False,
            )
        except ConditionFailed:
            raise LockLost("the save lost its lock") from None

    def _acquire(
        self,
        record: ProjectRecord,
        lock: ProjectLock,
        file_ids: list[str],
        now: int,
        owners: dict[str, str] | None = None,
    ) -> Acquisition:
        """Hold file_ids under lock; if any is gone, release what this call acquired, unlock and 422."""
        owners = owners or {}
        outcome = self.holds.acquire(
            record.tenant_id, record.user_id, record.project_id, lock.epoch, file_ids, now, owners=owners
        )
        if outcome.gone:
            self.holds.release(
                record.tenant_id,
                record.user_id,
                record.project_id,
                lock.epoch,
                outcome.held,
                now,
                owners=owners,
                tombstone=record.taken_over,
            )
            if record.status is ProjectStatus.CREATING:
                self.table.delete(record.key, condition="lockId = :lock", values={":lock": lock.lock_id})
                if record.manifest_key:
                    self.bucket.delete_objects([record.manifest_key])
            else:
                self._unlock(record, lock)
            gone = sorted(outcome.gone)
            raise Unprocessable(
                "these files are not available to you: " + ", ".join(gone), details={"unavailableFileIds": gone}
            )
        return outcome

    def _take_over(self, stale: ProjectRecord, base: Manifest, lock: ProjectLock, now: int) -> None:
        """Finish or undo what the save that held stale.lock did before it died (under our newer epoch)."""
        assert stale.lock is not None
        owners = dict(base.owners)
        if stale.lock.phase == RELEASE:
            release = list(base.released)  # it committed (base is its manifest): finish its releases
        else:
            body = self.bucket.read(stale.lock.manifest_key) if stale.lock.manifest_key else None
            dead = Manifest.from_bytes(body) if body else None
            release = [f for f in dead.held if f not in base.covered] if dead else []
            owners.update(dead.owners if dead else {})
            if stale.lock.manifest_key and stale.lock.manifest_key != stale.manifest_key:
                self.bucket.delete_objects([stale.lock.manifest_key])
        # fence: a file the dead save had not reached yet gets our epoch too, so that, if it only stalled,
        # its late acquire fails (LockLost) instead of leaving a hold that no version names (tombstones).
        self.holds.release(
            stale.tenant_id, stale.user_id, stale.project_id, lock.epoch, release, now, fence=True, owners=owners
        )

    def _put_manifest(self, record: ProjectRecord, manifest: Manifest) -> str:
        key = keys.document_object_key(record.tenant_id, record.project_id, manifest.version, ids.new_id())
        self.bucket.put_document(key, manifest.to_bytes())
        return key

    # --- pins --------------------------------------------------------------------------------

    def pin_operations(self, project: ProjectRecord, holder_pk: str, now: int) -> list[dict[str, Any]]:
        """The two operations (for the pinning holder's own transaction) that pin project's current
        version: they fail unless that version is still current and the project live."""
        pin = keys.pin_key(project.pk, holder_pk)
        return [
            {
                "Put": {
                    "Item": {
                        **pin,
                        "entity": "pin",
                        "holderPk": holder_pk,
                        "version": project.version,
                        "createdAt": now,
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "Key": project.key,
                    "UpdateExpression": "ADD pinCount :one REMOVE #ttl",
                    "ConditionExpression": "version = :v AND #status = :active AND expiresAt > :now",
                    "ExpressionAttributeNames": {"#status": "status", "#ttl": "ttl"},
                    "ExpressionAttributeValues": {
                        ":one": 1,
                        ":v": project.version,
                        ":now": now,
                        ":active": ProjectStatus.ACTIVE.value,
                    },
                }
            },
        ]

    def pin_operations_beside(
        self, pinned: dict[str, str], holder_pk: str, version: int, now: int
    ) -> list[dict[str, Any]]:
        """The operations (for the pinning holder's own transaction) that pin the version another pin
        keeps (pinned: that pin's key; an order of a cart item pins what the cart item pinned): they fail
        unless that pin is still there. Its project may have been saved or deleted since: while pinned it
        released nothing and cannot be removed, so every file of that version is still held by it."""
        project_key = {"pk": pinned["pk"], "sk": keys.META}
        pin = keys.pin_key(pinned["pk"], holder_pk)
        return [
            {"ConditionCheck": {"Key": dict(pinned), "ConditionExpression": "attribute_exists(pk)"}},
            {
                "Put": {
                    "Item": {**pin, "entity": "pin", "holderPk": holder_pk, "version": version, "createdAt": now},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "Key": project_key,
                    "UpdateExpression": "ADD pinCount :one REMOVE #ttl",
                    "ConditionExpression": "attribute_exists(pk) AND pinCount > :zero",
                    "ExpressionAttributeNames": {"#ttl": "ttl"},
                    "ExpressionAttributeValues": {":one": 1, ":zero": 0},
                }
            },
        ]

    def unpin(self, pin: dict[str, str], now: int) -> bool:
        """Drop a pin (once: the PIN item is its proof) and make the project due now in the index;
        True when this call dropped it and the project is still there."""
        project_key = {"pk": pin["pk"], "sk": keys.META}
        try:
            self.table.transact_write(
                [
                    {"Delete": {"Key": pin, "ConditionExpression": "attribute_exists(pk)"}},
                    {
                        "Update": {
                            "Key": project_key,
                            "UpdateExpression": "ADD pinCount :minus SET xpk = :xpk, xsk = :xsk",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {
                                ":minus": -1,
                                ":xpk": keys.expiry_shard(pin["pk"], keys.META, self.expiry_shards),
                                ":xsk": keys.expiry_sort(now, pin["pk"], keys.META),
                            },
                        }
                    },
                ]
            )
        except TransactionConflict as conflict:
            if conflict.reasons[:1] == ["ConditionalCheckFailed"]:
                return False  # unpinned already
            if conflict.reasons[1:2] == ["ConditionalCheckFailed"]:
                self.table.delete(pin)  # the project is gone already
                return False
            raise
        return True

    # --- deleting and removing ---------------------------------------------------------------

    def mark_deleted(self, record: ProjectRecord, now: int, events: Sequence[WebhookEvent] = ()) -> None:
        """DELETE: hide the project at once and make it due now; the sweep removes it (a few writes). Its
        webhook events are written in the same transaction (the event log is the outbox)."""
        try:
            self.table.update_with_puts(
                record.key,
                "SET #status = :deleting, xpk = :xpk, xsk = :xsk REMOVE gsi1pk, gsi1sk",
                event_log_items(events, now),
                condition="#status = :active AND userId = :owner",
                names={"#status": "status"},
                values={
                    ":deleting": ProjectStatus.DELETING.value,
                    ":active": ProjectStatus.ACTIVE.value,
                    ":owner": record.user_id,
                    ":xpk": keys.expiry_shard(record.pk, keys.META, self.expiry_shards),
                    ":xsk": keys.expiry_sort(now, record.pk, keys.META),
                },
            )
        except ConditionFailed:
            raise NotFound(f"project {record.project_id} not found") from None

    def remove(self, partition: HolderPartition, now: int, *, only_if_expired: bool) -> Removed | None:
        """Remove a schema-2 project whose time has come (deleted, expired, or a creation that died),
        once nothing pins it. What it let go when it is gone afterwards; None when it stays (live,
        extended, pinned, or locked by a save in progress: a later run looks again)."""
        assert partition.meta is not None
        record = ProjectRecord.from_item(partition.meta)
        if record.status is ProjectStatus.ACTIVE:
            if only_if_expired and record.expires_at > now:
                self._refile(record)
                return None
            try:
                self.table.update(
                    record.key,
                    "SET #status = :deleting REMOVE gsi1pk, gsi1sk",
                    condition="#status = :active" + (" AND expiresAt <= :now" if only_if_expired else ""),
                    names={"#status": "status"},
                    values={
                        ":deleting": ProjectStatus.DELETING.value,
                        ":active": ProjectStatus.ACTIVE.value,
                        **({":now": now} if only_if_expired else {}),
                    },
                    return_new=False,
                )
            except ConditionFailed:
                return None  # saved or extended meanwhile: it is live
            record = record.model_copy(update={"status": ProjectStatus.DELETING})
        if record.pin_count > 0:
            # Kept for its pins, out of the index; the last unpin makes it due again (the condition
            # keeps an unpin that came first from being undone).
            with contextlib.suppress(ConditionFailed):
                self.table.update(
                    record.key, "REMOVE xpk, xsk", condition="pinCount > :zero", values={":zero": 0}, return_new=False
                )
            return None
        lock_id = ids.new_id()
        # A lock the sweep saw is taken over (META marked takenOver in the same write: tombstones from
        # now on); a lock it did not see makes the condition fail, and a later run looks again.
        takeover = record.lock is not None
        try:
            item = self.table.update(
                record.key,
                "SET lockId = :lock, lockUntil = :until, lockPhase = :phase"
                + (", takenOver = :true" if takeover else "")
                + " ADD lockEpoch :one",
                condition="attribute_exists(pk) AND #status <> :active AND "
                + ("(attribute_not_exists(lockId) OR lockUntil < :now)" if takeover else "attribute_not_exists(lockId)")
                + " AND (attribute_not_exists(pinCount) OR pinCount = :zero)",
                names={"#status": "status"},
                values={
                    ":lock": lock_id,
                    ":until": now + LOCK_SECONDS,
                    ":phase": RELEASE,
                    ":one": 1,
                    **({":now": now, ":true": True} if takeover else {}),
                    ":active": ProjectStatus.ACTIVE.value,
                    ":zero": 0,
                },
            )
        except ConditionFailed:  # locked by a save, or pinned: a later run looks again
            return Removed() if self.get(record.tenant_id, record.project_id) is None else None
        assert item is not None
        stored = ProjectRecord.from_item(item)
        epoch = int(item["lockEpoch"])
        documents = [k for k in (stored.manifest_key, record.lock.manifest_key if record.lock else None) if k]
        release, fence, owners = self._what_it_holds(stored.manifest_key, record.lock)
        removed = self._release_all(stored, epoch, release, fence, owners, documents, now)
        self.table.delete(stored.key, condition="lockId = :lock", values={":lock": lock_id})
        return removed

    def remove_after_ttl(self, old_item: dict[str, Any], now: int) -> Removed:
        """TTL deleted a project's META before the sweep removed it (the backstop): release what it held
        (at an epoch past any its locks reached), drop its base pin, delete what is left of it.

        A META that was still live (active, not expired: a TTL written before saves moved it with the
        expiry, on items older than that fix) is put back as it was, with the TTL of its expiry: the
        rest of its partition and its holds are untouched, so nothing is lost."""
        record = ProjectRecord.from_item(old_item)
        if record.status is ProjectStatus.ACTIVE and record.expires_at > now:
            restored = {k: v for k, v in old_item.items() if k != "ttl"}
            if record.pin_count == 0:
                restored["ttl"] = record.expires_at + TTL_GRACE_SECONDS
            with contextlib.suppress(ConditionFailed):  # put back already (the stream record came twice)
                self.table.put(restored, condition="attribute_not_exists(pk)")
            return Removed()
        documents = [k for k in (record.manifest_key, record.lock.manifest_key if record.lock else None) if k]
        release, fence, owners = self._what_it_holds(record.manifest_key, record.lock)
        if record.lock is not None:
            record = record.model_copy(update={"taken_over": True})  # a save may be stalled: tombstones
        return self._release_all(record, record.lock_epoch + 1, release, fence, owners, documents, now)

    def _what_it_holds(
        self, manifest_key: str | None, lock: ProjectLock | None
    ) -> tuple[set[str], set[str], dict[str, str]]:
        """What a project being removed may hold: its version's files (held, and released by a save that
        died before finishing), and the files a save that holds (or held) its lock may have acquired,
        which are to be fenced (a stalled save must not acquire them after the removal)."""
        release: set[str] = set()
        fence: set[str] = set()
        owners: dict[str, str] = {}
        for key, into in ((manifest_key, release), (lock.manifest_key if lock else None, fence)):
            body = self.bucket.read(key) if key else None
            if body is not None:
                manifest = Manifest.from_bytes(body)
                into.update(manifest.held, manifest.released)
                owners.update(manifest.owners)
        return release, fence - release, owners

    def _release_all(
        self,
        record: ProjectRecord,
        epoch: int,
        release: set[str],
        fence: set[str],
        owners: dict[str, str],
        documents: list[str],
        now: int,
    ) -> Removed:
        tenant, owner, project = record.tenant_id, record.user_id, record.project_id
        self.holds.release(
            tenant, owner, project, epoch, sorted(release), now, owners=owners, tombstone=record.taken_over
        )
        self.holds.release(tenant, owner, project, epoch, sorted(fence), now, fence=True, owners=owners)
        release = release | fence
        removed = Removed(files=[keys.file_key(tenant, owners.get(f, owner), f) for f in sorted(release)])
        if record.base_pin_key is not None and self.unpin(record.base_pin_key, now):
            removed.unpinned.append(record.base_pin_key["pk"])
        rest = read_partition(self.table, record.pk)  # its shares and the pins left of it
        remove_belongings(
            self.table,
            self.bucket,
            [{"documentKey": k} for k in dict.fromkeys(documents)] + rest.others,
            also=[{"pk": i["pk"], "sk": i["sk"]} for i in rest.others],
        )
        return removed

    def _refile(self, record: ProjectRecord) -> None:
        """A live project found due (saves do not move its index entry): file it under its expiry, with
        its TTL back unless pinned (a pinned project has none: TTL must not take what a pin keeps)."""
        entry = record.to_item(self.expiry_shards)
        expression = "SET xpk = :xpk, xsk = :xsk"
        values: dict[str, Any] = {
            ":xpk": entry["xpk"],
            ":xsk": entry["xsk"],
            ":e": record.expires_at,
            ":active": ProjectStatus.ACTIVE.value,
        }
        condition = "expiresAt = :e AND #status = :active"
        if record.pin_count == 0:
            expression += ", #ttl = :ttl"
            condition += " AND (attribute_not_exists(pinCount) OR pinCount = :zero)"
            values.update({":ttl": record.expires_at + TTL_GRACE_SECONDS, ":zero": 0})
        try:
            self.table.update(
                record.key,
                expression,
                condition=condition,
                names={"#status": "status", **({"#ttl": "ttl"} if record.pin_count == 0 else {})},
                values=values,
                return_new=False,
            )
        except ConditionFailed:
            return


@dataclass(frozen=True)
class _EditorCondition:
    """The part of a save's conditions that a saving member (not the owner) is still an editor."""

    condition: str = ""
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


def _editor_condition(editor_id: str | None) -> _EditorCondition:
    if editor_id is None:
        return _EditorCondition()
    return _EditorCondition(
        condition=" AND #member = :editor",
        names={"#member": keys.member_attribute(editor_id)},
        values={":editor": EDITOR_ROLE},
    )


def _still_editor(stored: ProjectRecord, editor_id: str | None) -> bool:
    return editor_id is None or stored.members.get(editor_id) == EDITOR_ROLE


@dataclass(frozen=True)
class _ExpiryTtl:
    """The parts of a write that moves a project's expiry which move its TTL backstop with it."""

    set: str  # appended to the SET clause
    remove: str  # "REMOVE #ttl" or ""
    condition: str  # what the write must find (the pin count the TTL was chosen for)
    values: dict[str, Any]


def _expiry_ttl(expires_at: int, *, pinned: bool) -> _ExpiryTtl:
    """TTL = expiry + grace while nothing pins the project, none while something does (TTL must not take
    what a pin keeps; pin_operations removes it, the sweep's refile puts it back after the last unpin).
    The write is conditioned on that pin state, so a pin landing between the read and the write makes
    it fail rather than put a TTL on a pinned project: the caller reads again and retries."""
    if pinned:
        return _ExpiryTtl(set="", remove="REMOVE #ttl", condition="pinCount > :zero", values={":zero": 0})
    return _ExpiryTtl(
        set=", #ttl = :ttl",
        remove="",
        condition="(attribute_not_exists(pinCount) OR pinCount = :zero)",
        values={":ttl": expires_at + TTL_GRACE_SECONDS, ":zero": 0},
    )


def _newly_failed(record: ProjectRecord, manifest: Manifest, failed: list[str]) -> list[str]:
    """The acquired files whose previews failed that neither the manifest nor META knows failed yet (as
    many as META keeps)."""
    known = {
        ref.file_id for ref in manifest.files if ref.preview_status is PreviewStatus.FAILED
    } | record.preview_failed
    return [f for f in failed if f not in known][: max(0, MAX_PREVIEW_FAILED - len(record.preview_failed))]
