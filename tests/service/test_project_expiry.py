"""A project's TTL backstop follows its expiry (issue 24): every write that moves `expiresAt` moves
`ttl` in the same write, so DynamoDB TTL never deletes a live project (and, with it, its images)
when the sweep lags; a pinned project keeps having no TTL. In-process against moto, with the
table's TTL pass emulated (delete what is past its `ttl`, hand the REMOVE records to ttlStream)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from imagestore.auth import Principal
from imagestore.data import factory
from imagestore.models.files import TTL_GRACE_SECONDS
from tests.conftest import BUCKET, TABLE, Aws
from tests.service.test_scheduler import run_ttl_stream, ttl_removal
from tests.support.events import api_event, call
from tests.support.files import stored_file
from tests.support.holds_audit import audit, scan

ALICE = Principal("shop-a", "alice", "s1")
DAY = 86400


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Moves the clock every handler reads (the local stack's offset setting)."""

    class Clock:
        start = int(time.time())
        offset = 0

        def day(self, n: int) -> int:
            self.offset = n * DAY
            monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(self.offset))
            return self.now()

        def now(self) -> int:
            return int(time.time()) + self.offset

    return Clock()


def ttl_pass(aws: Aws, now: int) -> list[str]:
    """What DynamoDB TTL does at now: delete every item whose ttl has passed, then hand the REMOVE
    records to the ttlStream function. The sk of what it deleted."""
    table = factory.table()
    records, deleted = [], []
    for item in scan(aws.dynamodb, TABLE):
        if "ttl" in item and int(item["ttl"]) < now:
            old = table.delete({"pk": item["pk"], "sk": item["sk"]}, return_old=True)
            if old is not None:
                records.append(ttl_removal(old))
                deleted.append(f"{item['pk']}/{item['sk']}")
    if records:
        run_ttl_stream(*records)
    return deleted


def create(projects: Any, file_ids: list[str]) -> dict[str, Any]:
    body = {"name": "Summer", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
    status, created = call(projects, api_event("POST", "/projects", principal=ALICE, body=body))
    assert status == 201, created
    return created


def save(projects: Any, project: dict[str, Any], file_ids: list[str]) -> dict[str, Any]:
    body = {"name": "Summer", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
    status, saved = call(
        projects,
        api_event(
            "PUT",
            "/projects/{projectId}",
            principal=ALICE,
            body=body,
            path_params={"projectId": project["projectId"]},
            headers={"If-Match": f'"{project["version"]}"'},
        ),
    )
    assert status == 200, saved
    return saved


def load(projects: Any, project_id: str) -> tuple[int, Any]:
    return call(
        projects, api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": project_id})
    )


def meta(aws: Aws, project_id: str) -> dict[str, Any]:
    item = aws.item(f"T#shop-a#P#{project_id}", "META")
    assert item is not None, "the project's META is gone"
    return item


def test_a_project_saved_late_in_its_life_survives_a_ttl_pass_while_the_sweep_lags(
    aws: Aws, projects: Any, clock: Any
) -> None:
    """The issue's reproduction: created on day 0, saved on day 300 (expiry day 665), a TTL pass on day
    373 with the sweep not run since: the project and its image are still there."""
    photo = stored_file(ALICE)
    project = create(projects, [photo.file_id])
    clock.day(300)
    saved = save(projects, project, [photo.file_id])

    now = clock.day(373)
    deleted = ttl_pass(aws, now)

    assert f"T#shop-a#P#{project['projectId']}/META" not in deleted
    status, loaded = load(projects, project["projectId"])
    assert status == 200 and loaded["version"] == saved["version"]
    assert requests.get(loaded["files"][0]["downloadUrl"], timeout=10).status_code == 200
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, now) == []
    item = meta(aws, project["projectId"])
    assert item["ttl"] == item["expiresAt"] + TTL_GRACE_SECONDS


def test_a_load_that_extends_the_project_moves_its_ttl(aws: Aws, projects: Any, clock: Any) -> None:
    photo = stored_file(ALICE)
    project = create(projects, [photo.file_id])
    first = meta(aws, project["projectId"])
    clock.day(300)

    assert load(projects, project["projectId"])[0] == 200  # a load counts as use: expiry moved a year on

    extended = meta(aws, project["projectId"])
    assert extended["expiresAt"] > first["expiresAt"]
    assert extended["ttl"] == extended["expiresAt"] + TTL_GRACE_SECONDS
    now = clock.day(373)
    ttl_pass(aws, now)
    assert load(projects, project["projectId"])[0] == 200


@pytest.mark.parametrize("change_images", [False, True])
def test_a_save_moves_the_ttl_with_the_expiry_and_a_pinned_project_keeps_none(
    aws: Aws, projects: Any, carts: Any, clock: Any, change_images: bool
) -> None:
    """Both ways of committing a save (without a hold change: one conditional update; with one: under
    the lock), pinned and not."""
    a, b = stored_file(ALICE), stored_file(ALICE, retention_seconds=400 * DAY)
    project = create(projects, [a.file_id])
    clock.day(100)
    saved = save(projects, project, [a.file_id, b.file_id] if change_images else [a.file_id])
    item = meta(aws, project["projectId"])
    assert item["ttl"] == item["expiresAt"] + TTL_GRACE_SECONDS

    status, _ = call(
        carts,
        api_event(
            "POST",
            "/cart-items",
            principal=ALICE,
            body={"projectId": project["projectId"], "productSku": "BOOK-A4", "quantity": 1},
        ),
    )
    assert status == 201
    assert "ttl" not in meta(aws, project["projectId"])  # pinned: TTL must not take it
    clock.day(200)
    save(projects, saved, [a.file_id] if change_images else [a.file_id, b.file_id])
    pinned = meta(aws, project["projectId"])
    assert "ttl" not in pinned and int(pinned["pinCount"]) == 1
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, clock.now()) == []


def test_a_pin_landing_between_the_read_and_the_write_keeps_the_project_without_ttl(
    aws: Aws, projects: Any, carts: Any, clock: Any
) -> None:
    """The save and the extension read META unpinned; a cart item pins it before they write: their
    write, conditioned on the pin count, fails once and is made again without a TTL."""
    from imagestore.data.projects import Draft
    from imagestore.models.holds import FileRef

    a, b = stored_file(ALICE, retention_seconds=400 * DAY), stored_file(ALICE, retention_seconds=400 * DAY)
    project = create(projects, [a.file_id])
    store = factory.project_store()
    loaded = store.load("shop-a", project["projectId"])
    assert loaded is not None and loaded[0].pin_count == 0
    status, _ = call(
        carts,
        api_event(
            "POST",
            "/cart-items",
            principal=ALICE,
            body={"projectId": project["projectId"], "productSku": "BOOK-A4", "quantity": 1},
        ),
    )
    assert status == 201
    now = clock.day(100)

    store.extend(loaded[0], now + 365 * DAY)
    assert "ttl" not in meta(aws, project["projectId"])
    assert meta(aws, project["projectId"])["expiresAt"] == now + 365 * DAY
    for files in ([a], [a, b]):  # no hold change (one conditional update), then one (under the lock)
        record, base = store.load("shop-a", project["projectId"]) or (None, None)
        assert record is not None and base is not None
        stale = record.model_copy(update={"pin_count": 0})  # as read before the pin landed
        store.save(
            stale,
            base,
            Draft(
                name="Summer",
                product_type="photobook",
                document={},
                files=[FileRef.of(f) for f in files],
                saved_at=now,
                expires_at=now + 365 * DAY,
            ),
            now,
        )
        item = meta(aws, project["projectId"])
        assert "ttl" not in item and int(item["pinCount"]) == 1
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, now) == []


def test_a_live_project_that_ttl_took_with_a_ttl_written_before_the_fix_is_put_back(
    aws: Aws, projects: Any, clock: Any
) -> None:
    """Items written before saves moved the TTL keep their creation-time TTL until their next save,
    load or refile: if TTL takes such a live META, the stream function puts it back as it was (with the
    TTL of its expiry) instead of letting its images go."""
    photo = stored_file(ALICE)
    project = create(projects, [photo.file_id])
    first_ttl = meta(aws, project["projectId"])["ttl"]
    clock.day(300)
    save(projects, project, [photo.file_id])
    factory.table().update(
        {"pk": f"T#shop-a#P#{project['projectId']}", "sk": "META"},
        "SET #ttl = :old",
        names={"#ttl": "ttl"},
        values={":old": first_ttl},
        return_new=False,
    )  # as before the fix

    now = clock.day(373)
    deleted = ttl_pass(aws, now)

    assert deleted == [f"T#shop-a#P#{project['projectId']}/META"]  # TTL took it...
    status, loaded = load(projects, project["projectId"])  # ...and the backstop put it back
    assert status == 200, loaded
    assert requests.get(loaded["files"][0]["downloadUrl"], timeout=10).status_code == 200
    item = meta(aws, project["projectId"])
    assert item["ttl"] == item["expiresAt"] + TTL_GRACE_SECONDS
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, now) == []
