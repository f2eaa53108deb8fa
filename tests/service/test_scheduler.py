"""The scheduler in-process against moto: invariant 1 (nothing held is deleted, whatever races with
it) and invariant 2 (nothing unheld outlives its retention by more than one sweep)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from imagestore import keys
from imagestore.auth import Principal
from imagestore.data import factory
from imagestore.models.files import FileRecord, Retention
from tests.conftest import BUCKET, Aws
from tests.support.events import LambdaContext, api_event, call
from tests.support.files import stored_file, stored_files

ALICE = Principal("shop-a", "alice", "s1")
ALICE_PHONE_SESSION = Principal("shop-a", "alice", "s9")
BOB = Principal("shop-a", "bob", "s2")
HOUR = 3600


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Moves the clock every handler reads (the local stack's offset setting)."""

    class Clock:
        offset = 0

        def advance(self, seconds: int) -> int:
            self.offset += seconds
            monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(self.offset))
            return self.now()

        def now(self) -> int:
            return int(time.time()) + self.offset

    return Clock()


def run_sweep(event: dict[str, Any] | None = None) -> dict[str, Any]:
    from scheduler_service.handlers.sweep import handler

    return handler(event if event is not None else scheduled_event(), LambdaContext())


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "e1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-23T10:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/sweep"],
        "detail": {},
    }


def logged_out(principal: Principal) -> dict[str, Any]:
    return {
        **scheduled_event(),
        "source": "shop",
        "detail-type": "UserLoggedOut",
        "detail": {"tenantId": principal.tenant_id, "userId": principal.user_id, "sessionId": principal.session_id},
    }


def log_out(principal: Principal) -> dict[str, Any]:
    from scheduler_service.handlers.logout import handler

    return handler(logged_out(principal), LambdaContext())


def exists(aws: Aws, record: FileRecord) -> bool:
    """The image is still there for its user: item and bytes."""
    return aws.item(**record.key) is not None and aws.object_exists(record.object_key)


def gone(aws: Aws, record: FileRecord) -> bool:
    return aws.item(**record.key) is None and not aws.object_exists(record.object_key)


def save_project(handler: Any, file_ids: list[str], principal: Principal = ALICE) -> tuple[int, Any]:
    body = {"name": "Summer", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
    return call(handler, api_event("POST", "/projects", principal=principal, body=body))


def update_project(handler: Any, project: dict[str, Any], file_ids: list[str]) -> tuple[int, Any]:
    body = {"name": "Summer", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
    return call(
        handler,
        api_event(
            "PUT",
            "/projects/{projectId}",
            principal=ALICE,
            body=body,
            path_params={"projectId": project["projectId"]},
            headers={"If-Match": str(project["version"])},
        ),
    )


def delete_project(handler: Any, project: dict[str, Any]) -> int:
    return call(
        handler,
        api_event("DELETE", "/projects/{projectId}", principal=ALICE, path_params={"projectId": project["projectId"]}),
    )[0]


def sweep_context() -> Any:
    from scheduler_service.logic.context import sweep_context as build

    return build()


# --- invariant 2: what nothing holds goes after its retention ---------------------------------------------


def test_an_upload_not_saved_is_gone_after_its_retention_and_one_sweep(aws: Aws, clock: Any) -> None:
    unsaved = stored_file(ALICE)
    run_sweep()
    assert exists(aws, unsaved), "not due yet"

    clock.advance(6 * HOUR + 1)
    report = run_sweep()

    assert gone(aws, unsaved)
    assert report["files_removed"] == 1


def test_more_expiry_shards_strand_no_entry_filed_under_fewer(
    aws: Aws, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGESTORE_EXPIRY_SHARDS", "32")
    factory.reset()
    filed_under_32 = stored_files(ALICE, 40)
    assert {aws.item(**f.key)["xpk"] for f in filed_under_32} <= {keys.expiry_shard_pk(n) for n in range(32)}
    monkeypatch.setenv("IMAGESTORE_EXPIRY_SHARDS", "64")  # the stage raises its shard count
    factory.reset()

    clock.advance(7 * HOUR)
    report = run_sweep()

    assert report["files_removed"] == 40
    assert all(gone(aws, f) for f in filed_under_32)


def test_a_file_saved_in_a_project_stays_past_its_own_retention(aws: Aws, clock: Any, projects: Any) -> None:
    saved, unsaved = stored_file(ALICE), stored_file(ALICE)
    status, _ = save_project(projects, [saved.file_id])
    assert status == 201

    clock.advance(7 * 86400)
    run_sweep()

    assert exists(aws, saved)
    assert gone(aws, unsaved)
    assert aws.item(**saved.key)["holdCount"] == 1
    assert "xsk" not in aws.item(**saved.key), "a held file is out of the expiry index"


def test_a_file_released_by_a_project_save_goes_on_the_next_sweep(aws: Aws, clock: Any, projects: Any) -> None:
    first, second = stored_file(ALICE), stored_file(ALICE)
    _, project = save_project(projects, [first.file_id, second.file_id])
    clock.advance(7 * HOUR)
    status, project = update_project(projects, project, [second.file_id])
    assert status == 200

    run_sweep()

    assert gone(aws, first)
    assert exists(aws, second)


def test_an_expired_project_and_its_files_go_in_the_same_sweep(aws: Aws, clock: Any, projects: Any) -> None:
    kept = stored_file(ALICE)
    _, project = save_project(projects, [kept.file_id])

    clock.advance(366 * 86400)
    report = run_sweep()

    assert aws.item(f"T#shop-a#P#{project['projectId']}", "META") is None
    assert gone(aws, kept)
    assert report["holders_removed"] == 1


def test_a_project_used_again_is_not_removed_by_a_stale_index_entry(aws: Aws, clock: Any, projects: Any) -> None:
    kept = stored_file(ALICE)
    _, project = save_project(projects, [kept.file_id])
    clock.advance(300 * 86400)
    assert (
        call(
            projects,
            api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": project["projectId"]}),
        )[0]
        == 200
    )  # extends it
    ctx = sweep_context()

    ctx.holders.remove(
        ctx.holders.read(f"T#shop-a#P#{project['projectId']}"), clock.advance(100 * 86400), only_if_expired=True
    )  # a sweep that saw the old expiry
    run_sweep()

    assert aws.item(f"T#shop-a#P#{project['projectId']}", "META") is not None
    assert exists(aws, kept)


def test_a_requested_session_upload_never_completed_goes_with_its_retention(aws: Aws, clock: Any) -> None:
    """Filed at its retention's end (within a day of the upload deadline): the index entry the request
    wrote is the only one (extended uploads go at the deadline: tests/unit/test_sweep.py)."""
    from file_service.handlers.uploads import handler

    status, ticket = call(
        handler,
        api_event(
            "POST",
            "/uploads",
            principal=ALICE,
            body={"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 1234},
        ),
    )
    assert status == 201
    key = keys.file_key("shop-a", "alice", ticket["fileId"])
    requested = aws.item(**key)
    clock.advance(900 + 3601)
    run_sweep()
    assert aws.item(**key) == requested, "past the upload deadline, within its retention: not due"

    clock.advance(6 * HOUR - 900 - 3601 + 1)
    run_sweep()

    assert aws.item(**key) is None


def test_an_abandoned_multipart_upload_is_aborted_with_its_file(aws: Aws, clock: Any) -> None:
    import requests

    from file_service.handlers.uploads import handler

    status, ticket = call(
        handler,
        api_event(
            "POST",
            "/multipart-uploads",
            principal=ALICE,
            body={"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 6 * 1024 * 1024},
        ),
    )
    assert status == 201
    _, signed = call(
        handler,
        api_event(
            "POST",
            "/multipart-uploads/{fileId}/parts",
            principal=ALICE,
            path_params={"fileId": ticket["fileId"]},
            body={"parts": [{"partNumber": 1}]},
        ),
    )
    part = signed["parts"][0]
    assert requests.put(part["url"], data=bytes(part["sizeBytes"]), timeout=30).status_code == 200
    assert len(aws.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])) == 1

    clock.advance(900 + 3601)
    run_sweep()

    assert aws.item(**keys.file_key("shop-a", "alice", ticket["fileId"])) is None
    assert aws.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_completed_upload_is_filed_under_its_retention_not_the_upload_deadline(aws: Aws, clock: Any) -> None:
    from file_service.handlers.uploads import handler
    from tests.support.images import jpeg

    data = jpeg()
    _, ticket = call(
        handler,
        api_event(
            "POST",
            "/uploads",
            principal=ALICE,
            body={"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": len(data)},
        ),
    )
    aws.s3.put_object(Bucket=BUCKET, Key=f"shop-a/alice/{ticket['fileId']}", Body=data)
    status, _ = call(
        handler,
        api_event("POST", "/uploads/{fileId}/complete", principal=ALICE, path_params={"fileId": ticket["fileId"]}),
    )
    assert status == 200

    clock.advance(2 * HOUR)
    run_sweep()
    assert aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}") is not None
    clock.advance(4 * HOUR + 1)
    run_sweep()
    assert aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}") is None


def test_a_backlog_is_worked_off_over_several_bounded_runs(
    aws: Aws, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stored_at = time.time()
    backlog = stored_files(ALICE, 30)
    clock.advance(7 * HOUR)

    capsys.readouterr()
    first = run_sweep({**scheduled_event(), "detail": {"maxEntries": 12}})
    assert not first["complete"] and first["files_removed"] == 12
    metrics = published_metrics(capsys.readouterr().out)
    # The oldest is due an hour ago on the test's clock, which is the wall clock moved: the seconds
    # the test took since the files were stored count too.
    assert HOUR <= metrics.pop("SweepBacklogAgeSeconds") <= HOUR + time.time() - stored_at + 1
    assert metrics == {"FilesSwept": 12, "SweepRunsIncomplete": 1, "SweepBacklog": 18}
    run_sweep({**scheduled_event(), "detail": {"maxEntries": 12}})
    last = run_sweep({**scheduled_event(), "detail": {"maxEntries": 12}})

    assert last["complete"]
    assert all(aws.item(**r.key) is None for r in backlog)
    assert published_metrics(capsys.readouterr().out)["SweepRunsIncomplete"] == 0, "the last run caught up"


def published_metrics(stdout: str) -> dict[str, float]:
    """The metrics of the last CloudWatch embedded-metric-format record on stdout (Powertools Metrics),
    checked to be in the configured namespace under the service dimension (the names the alarms use)."""
    import json
    import os

    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line]
    assert records, "no metrics were published"
    record = records[-1]
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == os.environ["POWERTOOLS_METRICS_NAMESPACE"]
    assert directive["Dimensions"] == [["service"]] and record["service"] == os.environ["POWERTOOLS_SERVICE_NAME"]
    values = {m["Name"]: record[m["Name"]] for m in directive["Metrics"]}
    return {name: sum(v) if isinstance(v, list) else v for name, v in values.items()}


def test_a_sweep_deletes_in_batches(aws: Aws, clock: Any) -> None:
    records = [stored_file(ALICE) for _ in range(30)]
    clock.advance(7 * HOUR)
    aws.requests.reset()

    report = run_sweep()

    assert report["files_removed"] == 30
    assert aws.requests.calls["s3.DeleteObjects"] == 1
    assert aws.requests.calls["dynamodb.BatchWriteItem"] == 2  # 25 + 5
    assert aws.requests.calls["dynamodb.Scan"] == 0
    assert all(gone(aws, r) for r in records)


def test_the_sweep_accepts_an_empty_event_when_invoked_by_hand(aws: Aws, clock: Any) -> None:
    unsaved = stored_file(ALICE)
    clock.advance(7 * HOUR)
    assert run_sweep({})["files_removed"] == 1
    assert gone(aws, unsaved)


def test_an_expired_share_token_goes_with_its_companion(aws: Aws, clock: Any) -> None:
    table = factory.table()
    now = clock.now()
    token_key = {"pk": "T#shop-a#SHARE#abc", "sk": "META"}
    companion = {"pk": "T#shop-a#P#p1", "sk": "SHARE#s1"}
    table.put({**companion, "entity": "share"})
    table.put(
        {
            **token_key,
            "entity": "share",
            "expiresAt": now + 60,
            "companionKeys": [companion],
            "xpk": keys.expiry_shard(token_key["pk"], "META", 32),
            "xsk": keys.expiry_sort(now + 60, token_key["pk"], "META"),
        }
    )

    clock.advance(61)
    run_sweep()

    assert aws.item(**token_key) is None
    assert aws.item(**companion) is None


# --- logout --------------------------------------------------------------------------------------------


def test_logout_removes_the_sessions_unsaved_uploads_at_once(aws: Aws, projects: Any) -> None:
    unsaved, saved = stored_file(ALICE), stored_file(ALICE)
    other_session, other_user = stored_file(ALICE_PHONE_SESSION), stored_file(BOB)
    extended = stored_file(ALICE, retention_seconds=30 * 86400)
    factory.table().update(extended.key, "SET retention = :r", values={":r": Retention.EXTENDED.value})
    save_project(projects, [saved.file_id])

    report = log_out(ALICE)

    assert report["files_removed"] == 1
    assert gone(aws, unsaved)
    assert all(exists(aws, r) for r in (saved, other_session, other_user, extended))
    assert log_out(ALICE)["files_removed"] == 0, "a repeated event changes nothing"


def test_a_file_held_at_logout_goes_with_the_sweep_after_its_project(aws: Aws, projects: Any) -> None:
    saved = stored_file(ALICE)
    _, project = save_project(projects, [saved.file_id])
    log_out(ALICE)
    assert exists(aws, saved)

    assert delete_project(projects, project) == 204
    run_sweep()

    assert gone(aws, saved), "its session ended: nothing keeps it once the project lets go"


def test_a_save_that_lands_before_the_logout_keeps_the_file(aws: Aws, projects: Any) -> None:
    photo = stored_file(ALICE)
    expiry = sweep_context().expiry
    listed, _ = expiry.session_files("shop-a", "alice", "s1", int(time.time()))  # the logout has read them
    assert [r.file_id for r in listed] == [photo.file_id]

    assert save_project(projects, [photo.file_id])[0] == 201  # the user saves meanwhile
    assert not expiry.mark_logged_out(listed[0], "s1", int(time.time()))  # the logout's mark is refused

    log_out(ALICE)
    assert exists(aws, photo)


def test_a_save_after_the_logout_marked_the_file_is_refused(aws: Aws, projects: Any) -> None:
    photo = stored_file(ALICE)
    expiry = sweep_context().expiry
    listed, _ = expiry.session_files("shop-a", "alice", "s1", int(time.time()))
    assert expiry.mark_logged_out(listed[0], "s1", int(time.time()))

    status, body = save_project(projects, [photo.file_id])
    log_out(ALICE)

    assert status == 422 and body["error"]["details"]["unavailableFileIds"] == [photo.file_id]
    assert gone(aws, photo)


def test_logout_and_saves_at_once_never_lose_a_saved_file(aws: Aws, atomic: None, projects: Any) -> None:
    photos = [stored_file(ALICE) for _ in range(12)]
    barrier = threading.Barrier(2)

    def save_all() -> list[tuple[int, Any]]:
        barrier.wait()
        return [save_project(projects, [p.file_id]) for p in photos]

    def logout() -> dict[str, Any]:
        barrier.wait()
        return log_out(ALICE)

    with ThreadPoolExecutor(2) as pool:
        saves, _ = pool.submit(save_all), pool.submit(logout)
        results = saves.result()
    for photo, (status, _) in zip(photos, results, strict=True):
        if status == 201:
            assert exists(aws, photo), "saved in a project: must survive the logout"
        else:
            assert status == 422 and gone(aws, photo)


# --- invariant 1 under races with the sweep -------------------------------------------------------------


def test_a_project_saved_while_the_sweep_decides_keeps_the_file(aws: Aws, clock: Any, projects: Any) -> None:
    from scheduler_service.logic.sweep import FileAction, file_action

    photo = stored_file(ALICE, retention_seconds=60)
    ctx = sweep_context()
    sweep_now = clock.now() + 61  # the sweep's clock is ahead of the save's
    (seen,) = ctx.expiry.read_files([photo.key])
    assert file_action(seen, sweep_now, 900)[0] is FileAction.REMOVE_EXPIRED  # the sweep decided

    assert save_project(projects, [photo.file_id])[0] == 201  # the save's hold lands first
    assert not ctx.expiry.mark_expired(seen, sweep_now)  # so the sweep's mark is refused

    clock.advance(86400)
    run_sweep()
    assert exists(aws, photo)


def test_a_save_after_the_sweep_marked_the_file_is_refused(aws: Aws, clock: Any, projects: Any) -> None:
    photo = stored_file(ALICE, retention_seconds=60)
    ctx = sweep_context()
    (seen,) = ctx.expiry.read_files([photo.key])
    assert ctx.expiry.mark_expired(seen, clock.now() + 61)

    status, _ = save_project(projects, [photo.file_id])

    assert status == 422
    clock.advance(61)
    run_sweep()
    assert gone(aws, photo)


def test_project_saves_racing_a_sweep_keep_every_file_they_saved(
    aws: Aws, atomic: None, clock: Any, projects: Any
) -> None:
    photos = [stored_file(ALICE, retention_seconds=2) for _ in range(10)]
    barrier = threading.Barrier(2)
    from scheduler_service.logic.sweep import Budget, sweep

    def save_all() -> list[tuple[int, Any]]:
        barrier.wait()
        return [save_project(projects, [p.file_id]) for p in photos]

    def sweeps() -> None:
        barrier.wait()
        for _ in range(5):
            sweep(sweep_context(), int(time.time()) + 3, Budget())

    with ThreadPoolExecutor(2) as pool:
        saves, swept = pool.submit(save_all), pool.submit(sweeps)
        results, _ = saves.result(), swept.result()
    clock.advance(3)
    run_sweep()
    for photo, (status, _) in zip(photos, results, strict=True):
        assert exists(aws, photo) if status == 201 else gone(aws, photo)


def test_two_sweeps_at_once_are_harmless(aws: Aws, atomic: None, clock: Any, projects: Any) -> None:
    expired = [stored_file(ALICE) for _ in range(40)]
    held = stored_file(ALICE)
    save_project(projects, [held.file_id])
    clock.advance(7 * HOUR)

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: run_sweep(), range(2)))

    assert all(gone(aws, r) for r in expired)
    assert exists(aws, held)
    assert sum(r["files_removed"] for r in reports) >= 40
    assert all(r["left_for_next_run"] == 0 for r in reports)


def test_a_failed_s3_delete_is_retried_by_the_next_sweep(aws: Aws, clock: Any) -> None:
    records = [stored_file(ALICE) for _ in range(3)]
    stubborn = records[0]
    bucket = factory.image_bucket()
    real = bucket.client.delete_objects

    def failing(**kwargs: Any) -> Any:
        objects = kwargs["Delete"]["Objects"]
        kwargs["Delete"]["Objects"] = [o for o in objects if o["Key"] != stubborn.object_key]
        response = real(**kwargs)
        response["Errors"] = [{"Key": stubborn.object_key, "Code": "InternalError", "Message": "try again"}]
        return response

    clock.advance(7 * HOUR)
    bucket.client.delete_objects = failing
    try:
        report = run_sweep()
    finally:
        bucket.client.delete_objects = real

    assert report["left_for_next_run"] == 1
    assert aws.object_exists(stubborn.object_key)
    assert aws.item(**stubborn.key)["status"] == "deleting", "kept, marked, due: not dropped"
    assert all(gone(aws, r) for r in records[1:])
    from file_service.handlers.files import handler as files

    assert (
        call(files, api_event("GET", "/files/{fileId}", principal=ALICE, path_params={"fileId": stubborn.file_id}))[0]
        == 404
    ), "gone for readers"

    assert run_sweep()["files_removed"] == 1
    assert gone(aws, stubborn)


def test_unprocessed_item_deletes_stay_due(aws: Aws, clock: Any) -> None:
    from imagestore.errors import Throttled

    record = stored_file(ALICE)
    table = factory.table()
    clock.advance(7 * HOUR)

    def throttled(**_: Any) -> Any:
        raise Throttled("the table is busy; retry")

    table.batch_write = throttled  # type: ignore[method-assign]
    try:
        assert run_sweep()["left_for_next_run"] == 1
    finally:
        del table.batch_write
    assert aws.item(**record.key) is not None

    run_sweep()
    assert gone(aws, record)


# --- TTL backstop ------------------------------------------------------------------------------------------


def ttl_removal(item: dict[str, Any]) -> dict[str, Any]:
    from imagestore.data.table import serialize

    return {
        "eventID": "1",
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/imagestore-test/stream/2026",
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "dynamodb": {
            "Keys": serialize({"pk": item["pk"], "sk": item["sk"]}),
            "OldImage": serialize(item),
            "SequenceNumber": "1",
            "SizeBytes": 100,
            "StreamViewType": "OLD_IMAGE",
        },
    }


def run_ttl_stream(*records: dict[str, Any]) -> dict[str, Any]:
    from scheduler_service.handlers.ttl_stream import handler

    return handler({"Records": list(records)}, LambdaContext())


def test_ttl_deleting_a_file_before_the_sweep_leaves_no_object(aws: Aws, clock: Any) -> None:
    record = stored_file(ALICE)
    item = factory.table().delete(record.key, return_old=True)  # what TTL does
    assert item is not None

    result = run_ttl_stream(ttl_removal(item))

    assert result["objectsDeleted"] == 1
    assert gone(aws, record)
    clock.advance(7 * HOUR)
    assert run_sweep()["left_for_next_run"] == 0


def test_ttl_deleting_a_projects_meta_releases_its_files(aws: Aws, clock: Any, projects: Any) -> None:
    photo = stored_file(ALICE)
    _, project = save_project(projects, [photo.file_id])
    clock.advance(373 * 24 * HOUR)  # past its expiry (a year) + the TTL grace (a week), no sweep run
    meta = factory.table().delete({"pk": f"T#shop-a#P#{project['projectId']}", "sk": "META"}, return_old=True)
    assert meta is not None

    run_ttl_stream(ttl_removal(meta))
    run_sweep()

    assert aws.item(f"T#shop-a#P#{project['projectId']}", f"FILE#{photo.file_id}") is None
    assert gone(aws, photo)


def test_removals_by_the_application_are_not_ttls(aws: Aws) -> None:
    record = stored_file(ALICE)
    event = ttl_removal(record.to_item(32))
    del event["userIdentity"]
    assert run_ttl_stream(event)["items"] == 0
    assert exists(aws, record)


# --- orphans -----------------------------------------------------------------------------------------------


def test_reconciliation_deletes_old_objects_without_an_item(aws: Aws, clock: Any) -> None:
    from scheduler_service.logic.backstop import reconcile
    from scheduler_service.logic.context import expiry_store

    kept = stored_file(ALICE)
    for n in range(5):
        aws.s3.put_object(Bucket=BUCKET, Key=f"shop-a/alice/orphan{n}", Body=b"x")
    aws.s3.put_object(Bucket=BUCKET, Key="shop-a/documents/projects/p1/v1.json", Body=b"{}")

    young = reconcile(expiry_store(), clock.now(), pages=10)
    assert young.orphans_deleted == 0, "inside the grace period: could be an upload in flight"

    store = expiry_store()
    runs = [reconcile(store, clock.now() + 2 * 86400, pages=1, page_size=3) for _ in range(3)]

    assert sum(r.orphans_deleted for r in runs) == 5
    assert [r.finished_pass for r in runs][:2] == [False, False]
    assert exists(aws, kept)
    assert aws.object_exists("shop-a/documents/projects/p1/v1.json")


def test_reconcile_handler_runs_on_a_schedule(aws: Aws, clock: Any) -> None:
    from scheduler_service.handlers.reconcile import handler

    aws.s3.put_object(Bucket=BUCKET, Key="shop-a/alice/orphan", Body=b"x")
    clock.advance(2 * 86400)
    assert handler(scheduled_event(), LambdaContext())["orphans_deleted"] == 1


# --- cart items and orders (services/project) -------------------------------------------------------------


def test_an_order_keeps_its_images_after_the_project_is_deleted_until_its_retention(
    aws: Aws, clock: Any, projects: Any
) -> None:
    from project_service.handlers.cart_items import handler as cart
    from project_service.handlers.orders import handler as orders

    photo, unsaved = stored_file(ALICE), stored_file(ALICE)
    _, project = save_project(projects, [photo.file_id])
    status, item = call(
        cart,
        api_event(
            "POST",
            "/cart-items",
            principal=ALICE,
            body={"projectId": project["projectId"], "productSku": "book-a4", "quantity": 1},
        ),
    )
    assert status == 201, item
    status, order = call(
        orders,
        api_event(
            "POST", "/orders", principal=ALICE, body={"cartItemIds": [item["cartItemId"]], "externalOrderRef": "o-1"}
        ),
    )
    assert status == 201, order
    assert delete_project(projects, project) == 204

    clock.advance(60 * 86400)  # past the session (6 h) and the cart item (30 d)
    run_sweep()
    assert exists(aws, photo), "the order still holds it"
    assert gone(aws, unsaved)

    clock.advance(121 * 86400)  # past the order's 180 days
    run_sweep()
    assert gone(aws, photo)


def test_runs_over_groups_of_shards_share_them_out_and_together_sweep_them_all(aws: Aws, clock: Any) -> None:
    """A run given a group removes only the files of its shards; the runs of every group remove them all
    (the schedule's fan-out starts one run per group: tests/service/test_sweep_fanout.py)."""
    from imagestore.config import get_settings

    groups = 4
    inputs = [{"detail": {"group": group, "groups": groups}} for group in range(groups)]
    records = stored_files(ALICE, 40)
    clock.advance(7 * HOUR)

    def shard(record: FileRecord) -> int:
        xpk = keys.expiry_shard(record.key["pk"], record.key["sk"], get_settings().expiry_shards)
        return int(xpk.removeprefix("EXP#"))

    first, *others = inputs
    report = run_sweep(first)
    mine = [r for r in records if shard(r) % groups == 0]
    assert 0 < len(mine) < len(records)
    assert report["files_removed"] == len(mine)
    assert all((aws.item(**r.key) is None) == (r in mine) for r in records)

    for event in others:
        run_sweep(event)
    assert all(aws.item(**r.key) is None for r in records)


def test_a_session_upload_is_filed_at_its_retention_end_and_its_index_entry_never_moves(aws: Aws, clock: Any) -> None:
    import requests

    from file_service.handlers.uploads import handler as uploads
    from tests.support.images import jpeg

    data = jpeg()
    status, ticket = call(
        uploads,
        api_event(
            "POST",
            "/uploads",
            principal=ALICE,
            body={"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": len(data)},
        ),
    )
    assert status == 201, ticket
    key = keys.file_key("shop-a", "alice", ticket["fileId"])
    requested = aws.item(**key)
    upload = ticket["upload"]
    assert requests.post(upload["url"], data=upload["fields"], files={"file": ("f", data)}, timeout=10).ok
    assert (
        call(
            uploads,
            api_event("POST", "/uploads/{fileId}/complete", principal=ALICE, path_params={"fileId": ticket["fileId"]}),
        )[0]
        == 200
    )

    completed = aws.item(**key)
    assert completed["status"] == "available"
    assert (completed["xpk"], completed["xsk"]) == (requested["xpk"], requested["xsk"])  # not moved
    assert requested["xsk"].startswith(f"{int(requested['expiresAt']):012d}#")  # filed at its retention end

    clock.advance(2 * HOUR)  # past the abandoned-upload deadline, within the session's retention
    run_sweep()
    assert aws.item(**key) == completed  # not due: the sweep did not touch it

    clock.advance(5 * HOUR)  # past the session's retention
    run_sweep()
    assert aws.item(**key) is None
