"""Projects saved before holds v2 (schema 1: file ids and document in META, hold links in the
partition) keep working: read as they are, upgraded in place on their first save or pin, or by the
backfill script (deploy/backfill_holds_v2.py, with a dry run)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from imagestore import ids
from imagestore.auth import Principal
from imagestore.data import factory
from imagestore.models.files import FileRecord
from imagestore.models.holds import FileRef
from tests.conftest import BUCKET, TABLE, Aws
from tests.support.events import api_event, call
from tests.support.files import stored_file
from tests.support.holds_audit import audit

ALICE = Principal("shop-a", "alice", "s1")


def legacy_project(files: list[FileRecord], document: Any) -> str:
    """A schema-1 project as the code before holds v2 wrote it: META, one link per file, holdCount + 1."""
    table, now, pid = factory.table(), int(time.time()), ids.new_id()
    pk = f"T#shop-a#P#{pid}"
    table.put({"pk": pk, "sk": "META", "entity": "project", "tenantId": "shop-a", "userId": "alice",
               "projectId": pid, "name": "Old book", "productType": "photobook", "version": 1,
               "createdAt": now, "savedAt": now, "expiresAt": now + 365 * 86400, "status": "active",
               "fileIds": [f.file_id for f in files], "document": json.dumps(document),
               "gsi1pk": "T#shop-a#U#alice#PROJECTS", "gsi1sk": f"{now:012d}#{pid}"})
    for f in files:
        table.put(FileRef.of(f).to_link_item(pk, "project", pid))
        table.update(f.key, "ADD holdCount :one REMOVE xpk, xsk, #ttl", names={"#ttl": "ttl"}, values={":one": 1})
    return pid


def get(projects: Any, pid: str) -> tuple[int, Any]:
    return call(projects, api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid}))


def put(projects: Any, pid: str, file_ids: list[str], version: str) -> tuple[int, Any]:
    return call(projects, api_event("PUT", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid},
                                    headers={"If-Match": version},
                                    body={"name": "Old book", "productType": "photobook",
                                          "document": {"pages": file_ids}, "fileIds": file_ids}))


def test_a_legacy_project_reads_as_before_and_upgrades_on_its_first_save(aws: Aws, projects: Any) -> None:
    a, b, c = stored_file(ALICE), stored_file(ALICE), stored_file(ALICE)
    pid = legacy_project([a, b], {"pages": [a.file_id, b.file_id]})
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, int(time.time())) == []

    status, loaded = get(projects, pid)
    assert status == 200 and loaded["document"] == {"pages": [a.file_id, b.file_id]}
    assert [f["fileId"] for f in loaded["files"]] == [a.file_id, b.file_id] and loaded["fileCount"] == 2

    status, saved = put(projects, pid, [b.file_id, c.file_id], "1")

    assert status == 200 and saved["version"] == 2
    meta = aws.item(f"T#shop-a#P#{pid}", "META")
    assert meta["schema"] == 2 and "fileIds" not in meta and "document" not in meta and "lockId" not in meta
    assert aws.item(f"T#shop-a#P#{pid}", f"FILE#{a.file_id}") is None  # links became holds on the files
    counts = {f.file_id: aws.item("T#shop-a#U#alice", f"FILE#{f.file_id}")["holdCount"] for f in (a, b, c)}
    assert counts == {a.file_id: 0, b.file_id: 1, c.file_id: 1}
    assert get(projects, pid)[1]["document"] == {"pages": [b.file_id, c.file_id]}
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, int(time.time())) == []


def test_a_legacy_project_put_in_the_cart_is_upgraded_then_pinned(aws: Aws, carts: Any) -> None:
    a = stored_file(ALICE)
    pid = legacy_project([a], {})
    status, item = call(carts, api_event("POST", "/cart-items", principal=ALICE,
                                         body={"projectId": pid, "productSku": "BOOK", "quantity": 1}))
    assert status == 201, item
    assert aws.item(f"T#shop-a#P#{pid}", "META")["pinCount"] == 1
    assert aws.item("T#shop-a#U#alice", f"FILE#{a.file_id}")["holdCount"] == 1
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, int(time.time())) == []


def test_the_backfill_counts_in_a_dry_run_then_upgrades_every_live_legacy_project(aws: Aws, projects: Any) -> None:
    from deploy.backfill_holds_v2 import backfill

    files = [stored_file(ALICE) for _ in range(3)]
    first, second = legacy_project(files[:2], {"n": 1}), legacy_project(files[1:], {"n": 2})
    now = int(time.time())

    dry = backfill(dry_run=True, now=now)
    assert (dry.legacy, dry.upgraded) == (2, 0)
    assert "schema" not in aws.item(f"T#shop-a#P#{first}", "META")

    report = backfill(dry_run=False, now=now)
    assert (report.legacy, report.upgraded, report.skipped) == (2, 2, 0)
    for pid, n in ((first, 1), (second, 2)):
        assert aws.item(f"T#shop-a#P#{pid}", "META")["schema"] == 2
        assert get(projects, pid)[1]["document"] == {"n": n}
    assert [aws.item("T#shop-a#U#alice", f"FILE#{f.file_id}")["holdCount"] for f in files] == [1, 2, 1]
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, now) == []
    assert backfill(dry_run=False, now=now).legacy == 0  # nothing left: a second run changes nothing


def test_an_upgrade_that_died_half_way_is_done_again_by_the_next_save(
    aws: Aws, projects: Any, monkeypatch: Any
) -> None:
    from imagestore.data.projects import ProjectStore
    from imagestore.models.projects import LOCK_SECONDS

    a, b = stored_file(ALICE), stored_file(ALICE)
    pid = legacy_project([a, b], {"pages": 2})
    store, now = factory.project_store(), int(time.time())
    record = store.get("shop-a", pid)
    assert record is not None

    def dies(*_: Any) -> str:
        raise RuntimeError("the function timed out")

    monkeypatch.setattr(ProjectStore, "_put_manifest", dies)
    with pytest.raises(RuntimeError):
        store.upgrade(record, store.manifest(record), now)  # type: ignore[arg-type]
    monkeypatch.undo()
    assert aws.item(f"T#shop-a#P#{pid}", f"FILE#{a.file_id}") is not None  # links kept: still legacy
    assert get(projects, pid)[1]["document"] == {"pages": 2}

    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(LOCK_SECONDS + 1))  # its lock ran out
    status, saved = put(projects, pid, [b.file_id], "1")

    assert status == 200, saved
    assert aws.item(f"T#shop-a#P#{pid}", f"FILE#{a.file_id}") is None
    counts = [aws.item("T#shop-a#U#alice", f"FILE#{f.file_id}")["holdCount"] for f in (a, b)]
    assert counts == [0, 1]
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, now + LOCK_SECONDS + 1) == []
