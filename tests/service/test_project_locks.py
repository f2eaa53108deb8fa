"""The project lock (imagestore.data.projects): a save, a creation or a removal that dies half-way
leaves nothing that the next lock holder or the sweep does not finish or undo, and a held file is
never let go while a version lists it. Each test builds the state a dead writer leaves (its steps
called one by one, then abandoned) and checks the whole table with the audit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from imagestore import ids, keys
from imagestore.auth import Principal
from imagestore.data import factory
from imagestore.data.holds import Acquisition
from imagestore.data.projects import ACQUIRE, Draft, ProjectStore, SaveInProgress
from imagestore.errors import NotFound
from imagestore.models.files import FileRecord
from imagestore.models.holds import FileRef
from imagestore.models.manifests import Manifest
from imagestore.models.projects import LOCK_SECONDS, ProjectLock, ProjectRecord, ProjectStatus
from tests.conftest import BUCKET, TABLE, Aws
from tests.support.files import stored_file
from tests.support.holds_audit import audit
from tests.support.scheduler import run_sweep

ALICE = Principal("shop-a", "alice", "s1")


def book_record(now: int) -> ProjectRecord:
    """Alice's version-1 photo book, not yet stored."""
    return ProjectRecord(
        tenant_id="shop-a",
        user_id="alice",
        project_id=ids.new_id(),
        name="Book",
        product_type="photobook",
        version=1,
        created_at=now,
        saved_at=now,
        expires_at=now + 365 * 86400,
    )


def new_project(files: list[FileRecord], now: int) -> tuple[ProjectRecord, Manifest]:
    record = book_record(now)
    manifest = Manifest(
        project_id=record.project_id,
        version=1,
        files=tuple(FileRef.of(f) for f in files),
        held=tuple(f.file_id for f in files),
    )
    store = factory.project_store()
    record = store.create(record, manifest, now)
    loaded = store.load("shop-a", record.project_id)
    assert loaded is not None
    return loaded


def draft(files: list[FileRecord], now: int) -> Draft:
    return Draft(
        name="Book",
        product_type="photobook",
        document={"n": len(files)},
        files=[FileRef.of(f) for f in files],
        saved_at=now,
        expires_at=now + 365 * 86400,
    )


def hold_count(aws: Aws, f: FileRecord) -> int:
    return int(aws.item("T#shop-a#U#alice", f"FILE#{f.file_id}")["holdCount"])


def clean(aws: Aws, now: int) -> None:
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, now) == []


def dead_save(record: ProjectRecord, base: Manifest, files: list[FileRecord], now: int, *, committed: bool) -> None:
    """A save of files that took the lock, acquired its new files (and, if committed, wrote the new
    version) and then died: its lock stays until its lease runs out."""
    store = factory.project_store()
    manifest = Manifest(
        project_id=record.project_id,
        version=record.version + 1,
        files=tuple(FileRef.of(f) for f in files),
        held=tuple(f.file_id for f in files),
        released=tuple(f for f in base.held if f not in {x.file_id for x in files}),
    )
    saved = record.model_copy(update={"version": record.version + 1, "file_count": len(files)})
    key = store._put_manifest(saved, manifest)
    saved = saved.model_copy(update={"manifest_key": key})
    lock = store._lock(record, key, now)
    added = [f.file_id for f in files if f.file_id not in base.covered]
    store._acquire(saved, lock, added, now)
    if committed:
        store._commit_locked(saved, lock, added, releasing=bool(manifest.released), now=now)


@pytest.mark.parametrize("committed", [False, True])
def test_a_save_that_died_is_finished_or_undone_by_the_next_save_after_its_lease(aws: Aws, committed: bool) -> None:
    now = int(time.time())
    a, b, c = stored_file(ALICE), stored_file(ALICE), stored_file(ALICE)
    record, base = new_project([a, b], now)
    dead_save(record, base, [b, c], now, committed=committed)  # drops a, adds c
    store = factory.project_store()
    current, manifest = store.load("shop-a", record.project_id)  # type: ignore[misc]
    assert current.version == (2 if committed else 1)

    with pytest.raises(SaveInProgress):  # within the lease: the dead save still holds the lock
        store.save(current, manifest, draft([b], now), now)
    assert hold_count(aws, c) == 1 and hold_count(aws, a) == 1

    later = now + LOCK_SECONDS + 1
    saved, _ = store.save(current, manifest, draft([b], later), later)

    assert saved.version == current.version + 1
    stored = store.get("shop-a", record.project_id)
    assert stored is not None and stored.lock is None
    assert (hold_count(aws, a), hold_count(aws, b), hold_count(aws, c)) == (0, 1, 0)
    clean(aws, later)


def test_a_creation_that_died_is_undone_by_the_sweep(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(time.time())
    a = stored_file(ALICE, retention_seconds=10)
    store = factory.project_store()
    record = book_record(now)
    manifest = Manifest(project_id=record.project_id, version=1, files=(FileRef.of(a),), held=(a.file_id,))
    key = store._put_manifest(record, manifest)
    lock = ProjectLock(lock_id=ids.new_id(), epoch=1, until=now + LOCK_SECONDS, manifest_key=key, phase=ACQUIRE)
    creating = record.model_copy(
        update={"status": ProjectStatus.CREATING, "manifest_key": key, "lock": lock, "lock_epoch": 1}
    )
    factory.table().put(creating.to_item(factory.hold_store().expiry_shards, due_at=lock.until + 1))
    store._acquire(creating, lock, [a.file_id], now)  # ... and then the function timed out
    assert hold_count(aws, a) == 1

    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(LOCK_SECONDS + 60))
    report = run_sweep()

    assert aws.item(record.pk, keys.META) is None
    assert report["holders_removed"] == 1
    assert aws.item("T#shop-a#U#alice", f"FILE#{a.file_id}") is None  # released, and past its retention
    assert not aws.object_exists(key)
    clean(aws, now + LOCK_SECONDS + 60)


def test_a_delete_during_a_save_wins_and_the_save_undoes_its_holds(aws: Aws) -> None:
    now = int(time.time())
    a, b = stored_file(ALICE), stored_file(ALICE)
    record, base = new_project([a], now)
    store = factory.project_store()
    real_acquire = store._acquire

    def acquire_then_delete(*args: Any, **kwargs: Any) -> Any:
        held = real_acquire(*args, **kwargs)
        store.mark_deleted(record, now)  # DELETE /projects arrives while the save holds the lock
        return held

    store._acquire = acquire_then_delete  # type: ignore[method-assign]
    with pytest.raises(NotFound):
        store.save(record, base, draft([a, b], now), now)

    assert hold_count(aws, b) == 0 and hold_count(aws, a) == 1  # the save undid its own acquisition
    run_sweep()
    assert aws.item(record.pk, keys.META) is None and hold_count(aws, a) == 0
    clean(aws, now)


def test_a_project_removed_by_ttl_before_the_sweep_lets_its_files_go(aws: Aws) -> None:
    from scheduler_service.logic.backstop import clean_up_after_ttl
    from scheduler_service.logic.context import expiry_store

    now = int(time.time())
    a = stored_file(ALICE)
    record, _ = new_project([a], now)
    old_image = aws.item(record.pk, keys.META)
    factory.table().delete(record.key)  # what DynamoDB TTL does, then its stream record arrives
    later = int(old_image["ttl"]) + 1  # TTL deletes only past expiry + grace

    clean_up_after_ttl([old_image], expiry_store(), factory.holder_store(), later)

    assert hold_count(aws, a) == 0
    assert aws.item("T#shop-a#U#alice", f"FILE#{a.file_id}")["xsk"].startswith(f"{later:012d}#")
    assert not aws.object_exists(str(old_image["manifestKey"]))
    clean(aws, later)


def stalled_save(
    store: ProjectStore,
    project: ProjectRecord,
    base: Manifest,
    files: list[FileRecord],
    now: int,
    *,
    after: int,
    meanwhile: Callable[[], None],
) -> None:
    """A save of files that stalls past its lease after acquiring `after` of its added files (its
    function froze), while meanwhile() runs (a takeover); then it goes on, as a stalled one does."""
    real_acquire = store.holds.acquire
    stalled = threading.Event()

    def acquire_then_stall(
        tenant_id: str, owner_id: str, project_id: str, epoch: int, file_ids: Any, at: int, **kwargs: Any
    ) -> Any:
        if stalled.is_set() or project_id != project.project_id or epoch != project.lock_epoch + 1:
            return real_acquire(tenant_id, owner_id, project_id, epoch, file_ids, at, **kwargs)
        stalled.set()
        first = real_acquire(tenant_id, owner_id, project_id, epoch, list(file_ids)[:after], at, **kwargs)
        meanwhile()
        rest = real_acquire(tenant_id, owner_id, project_id, epoch, list(file_ids)[after:], at, **kwargs)
        return Acquisition(held=first.held + rest.held, gone=first.gone + rest.gone)

    store.holds.acquire = acquire_then_stall  # type: ignore[method-assign]
    try:
        store.save(project, base, draft(files, now), now)
    finally:
        store.holds.acquire = real_acquire  # type: ignore[method-assign]


def take_over(store: ProjectStore, project_id: str, files: list[FileRecord], later: int) -> None:
    """The next save, after the stalled one's lease: it takes the lock over."""
    current, manifest = store.load("shop-a", project_id)  # type: ignore[misc]
    assert current.lock is not None and current.lock.until < later
    store.save(current, manifest, draft(files, later), later)


@pytest.mark.parametrize("after", [0, 1, 2])
def test_a_stalled_save_that_lost_its_lock_leaks_no_hold(aws: Aws, after: int) -> None:
    """Issue 24: the takeover released what the stalled save had acquired and skipped the files it had
    not reached yet (no H#p on them); the stalled save then acquired those at its old epoch, lost its
    commit, and left their holds for ever. Now the takeover fences every file the dead save's manifest
    names, and the stalled save's late acquisitions fail (LockLost: 409, nothing held)."""
    now = int(time.time())
    a, b, c = stored_file(ALICE), stored_file(ALICE), stored_file(ALICE)
    store = factory.project_store()
    record, base = new_project([a], now)
    later = now + LOCK_SECONDS + 1

    with pytest.raises(SaveInProgress):
        stalled_save(
            store,
            record,
            base,
            [a, b, c],
            now,
            after=after,
            meanwhile=lambda: take_over(store, record.project_id, [a], later),
        )

    stored = store.get("shop-a", record.project_id)
    assert stored is not None and stored.version == 2 and stored.lock is None
    assert (hold_count(aws, a), hold_count(aws, b), hold_count(aws, c)) == (1, 0, 0)
    clean(aws, later)
    run_sweep_at(later + 7 * 3600)
    assert aws.item("T#shop-a#U#alice", f"FILE#{b.file_id}") is None  # unheld: gone with its retention
    assert aws.item("T#shop-a#U#alice", f"FILE#{c.file_id}") is None


def test_a_save_that_lost_its_lock_releases_what_it_acquired_itself(aws: Aws) -> None:
    """The stalled save acquired its files, and the takeover could not tell which (the dead save's
    manifest was lost): its commit fails (LockLost) and it releases its own acquisitions; a file the
    takeover's version uses as well is the takeover's (re-marked at its epoch), and stays held."""
    now = int(time.time())
    a, b, c = stored_file(ALICE), stored_file(ALICE), stored_file(ALICE)
    store = factory.project_store()
    record, base = new_project([a], now)
    later = now + LOCK_SECONDS + 1

    def takeover_without_the_dead_manifest() -> None:
        current = store.get("shop-a", record.project_id)
        assert current is not None and current.lock is not None and current.lock.manifest_key
        factory.image_bucket().delete_objects([current.lock.manifest_key])
        take_over(store, record.project_id, [a, c], later)

    with pytest.raises(SaveInProgress):
        stalled_save(store, record, base, [a, b, c], now, after=2, meanwhile=takeover_without_the_dead_manifest)

    stored, manifest = store.load("shop-a", record.project_id)  # type: ignore[misc]
    assert stored.version == 2 and manifest.file_ids == (a.file_id, c.file_id)
    assert (hold_count(aws, a), hold_count(aws, b), hold_count(aws, c)) == (1, 0, 1)
    clean(aws, later)


def run_sweep_at(moment: int) -> dict[str, Any]:
    import os

    previous = os.environ.get("IMAGESTORE_CLOCK_OFFSET_SECONDS")
    os.environ["IMAGESTORE_CLOCK_OFFSET_SECONDS"] = str(moment - int(time.time()))
    try:
        return run_sweep()
    finally:
        if previous is None:
            del os.environ["IMAGESTORE_CLOCK_OFFSET_SECONDS"]
        else:
            os.environ["IMAGESTORE_CLOCK_OFFSET_SECONDS"] = previous


def test_a_save_that_fails_holding_the_lock_leaves_its_manifest_for_the_next_save_to_undo(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A throttled (or failed) call after the lock and the acquire: the save raises, and the manifest its lock
    names stays, so the next lock holder releases what it acquired (found by tests/local/test_chaos_e2e.py)."""
    from imagestore.errors import Throttled

    now = int(time.time())
    a, b, c = stored_file(ALICE), stored_file(ALICE), stored_file(ALICE)
    record, base = new_project([a, b], now)
    store = factory.project_store()

    def throttled(*_args: Any, **_kwargs: Any) -> None:
        raise Throttled("the table is busy; retry")

    monkeypatch.setattr(store, "_commit_locked", throttled)
    with pytest.raises(Throttled):
        store.save(record, base, draft([b, c], now), now)  # adds c (acquired), then fails to commit
    assert hold_count(aws, c) == 1
    monkeypatch.undo()

    later = now + LOCK_SECONDS + 1
    current, manifest = store.load("shop-a", record.project_id)  # type: ignore[misc]
    saved, _ = store.save(current, manifest, draft([a, b], later), later)

    assert saved.version == 2
    assert (hold_count(aws, a), hold_count(aws, b), hold_count(aws, c)) == (1, 1, 0)
    clean(aws, later)
