"""The preview function in-process against moto (S3 ObjectCreated:Copy of a completed upload), the
file entries that carry the previews, GET /files/{fileId}/print-check, and previews going with their
file (delete, sweep, logout, TTL backstop, reconciliation)."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
import requests
from PIL import Image

from imagestore.auth import Principal
from imagestore.data import factory
from tests.conftest import BUCKET, Aws
from tests.support.events import LambdaContext, api_event, call
from tests.support.files import stored_file
from tests.support.images import heic

ALICE = Principal("shop-a", "alice", "s1")
MALLORY = Principal("shop-b", "alice", "s1")  # same user id, other tenant
GPS_IFD = 0x8825


def phone_jpeg(size: tuple[int, int] = (4000, 3000)) -> bytes:
    """Left half red, right half blue as stored; EXIF Orientation 6, DateTimeOriginal and GPS."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[0x9003] = "2024:07:14 18:30:05"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 1.0)})
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85, exif=exif)
    return buffer.getvalue()


@pytest.fixture
def uploads(aws: Aws) -> Any:
    from file_service.handlers.uploads import handler

    return handler


def upload(handler: Any, data: bytes, content_type: str = "image/jpeg", principal: Principal = ALICE) -> dict[str, Any]:
    body = {"filename": "photo", "contentType": content_type, "sizeBytes": len(data)}
    status, ticket = call(handler, api_event("POST", "/uploads", principal=principal, body=body))
    assert status == 201, ticket
    target = ticket["upload"]
    posted = requests.post(target["url"], data=target["fields"], files={"file": ("f", data)}, timeout=10)
    assert posted.status_code == 204
    status, completed = call(
        handler,
        api_event("POST", "/uploads/{fileId}/complete", principal=principal, path_params={"fileId": ticket["fileId"]}),
    )
    assert status == 200, completed
    return completed


def copied(key: str) -> dict[str, Any]:
    """What S3 sends the preview function when the completion copies the verified bytes to key."""
    from imagestore_local.s3_events import object_created_event

    return object_created_event(BUCKET, key, 1, "e", "ObjectCreated:Copy", "eu-west-1")


def make_previews(key: str) -> dict[str, str]:
    from file_service.handlers.previews import handler

    return handler(copied(key), LambdaContext())["outcomes"]


def get(files: Any, file_id: str, principal: Principal = ALICE) -> tuple[int, Any]:
    return call(files, api_event("GET", "/files/{fileId}", principal=principal, path_params={"fileId": file_id}))


def print_check(files: Any, file_id: str, query: dict[str, str], principal: Principal = ALICE) -> tuple[int, Any]:
    return call(
        files,
        api_event(
            "GET", "/files/{fileId}/print-check", principal=principal, path_params={"fileId": file_id}, query=query
        ),
    )


def key_of(file_id: str, principal: Principal = ALICE) -> str:
    return f"{principal.tenant_id}/{principal.user_id}/{file_id}"


def preview_keys(file_id: str) -> list[str]:
    return [f"{key_of(file_id)}.preview.thumb", f"{key_of(file_id)}.preview.screen"]


def test_a_completed_phone_photo_gets_upright_previews_without_gps(aws: Aws, uploads: Any, files: Any) -> None:
    completed = upload(uploads, phone_jpeg())
    assert completed["previewStatus"] == "pending" and completed["previews"] is None
    assert (completed["width"], completed["height"]) == (3000, 4000)  # displayed size from the first bytes

    assert make_previews(key_of(completed["fileId"])) == {key_of(completed["fileId"]): "ready"}

    status, body = get(files, completed["fileId"])
    assert status == 200
    assert body["previewStatus"] == "ready"
    assert (body["width"], body["height"]) == (3000, 4000)
    assert body["takenAt"] == "2024-07-14T18:30:05"
    assert set(body["previews"]) == {"thumb", "screen"}
    for name, longest in (("thumb", 320), ("screen", 1600)):
        entry = body["previews"][name]
        assert entry["contentType"] == "image/jpeg"
        assert (entry["width"], entry["height"]) == (longest * 3 // 4, longest)
        data = requests.get(entry["url"], timeout=10).content
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.size == (entry["width"], entry["height"])
        assert dict(image.getexif()) == {} and b"Exif" not in data
        top = image.convert("RGB").getpixel((image.width // 2, image.height // 4))
        assert top[0] > 200 and top[2] < 60, "the stored left half (red) is shown on top"
    listed = call(files, api_event("GET", "/files", principal=ALICE))[1]["items"]
    assert listed[0]["previewStatus"] == "ready" and set(listed[0]["previews"]) == {"thumb", "screen"}


def test_previews_are_made_once_and_only_for_a_files_verified_bytes(aws: Aws, uploads: Any) -> None:
    completed = upload(uploads, heic((900, 600)), "image/heic")
    key = key_of(completed["fileId"])

    assert make_previews(key + ".upload") == {key + ".upload": "ignored"}
    assert make_previews(key + ".preview.thumb") == {key + ".preview.thumb": "ignored"}
    assert make_previews("shop-a/documents/projects/p/v1.json") == {"shop-a/documents/projects/p/v1.json": "ignored"}
    assert make_previews(key) == {key: "ready"}
    first = aws.s3.get_object(Bucket=BUCKET, Key=preview_keys(completed["fileId"])[1])
    assert make_previews(key) == {key: "ready"}, "a repeated event is harmless"
    again = aws.s3.get_object(Bucket=BUCKET, Key=preview_keys(completed["fileId"])[1])
    assert again["LastModified"] == first["LastModified"] and again["ContentType"] == "image/jpeg"
    assert Image.open(io.BytesIO(again["Body"].read())).size == (900, 600)


def test_an_image_that_cannot_be_decoded_is_marked_failed(aws: Aws, uploads: Any, files: Any) -> None:
    buffer = io.BytesIO()
    Image.effect_noise((800, 600), 60).save(buffer, format="PNG")
    whole = buffer.getvalue()
    damaged = whole[:2000] + bytes(len(whole) - 4000) + whole[-2000:]  # header and IEND intact, data zeroed
    completed = upload(uploads, damaged, "image/png")

    assert make_previews(key_of(completed["fileId"])) == {key_of(completed["fileId"]): "failed"}

    body = get(files, completed["fileId"])[1]
    assert body["previewStatus"] == "failed" and body.get("previews") is None
    assert not any(aws.object_exists(k) for k in preview_keys(completed["fileId"]))


def test_previews_of_a_file_deleted_meanwhile_are_deleted_too(aws: Aws, uploads: Any, files: Any) -> None:
    completed = upload(uploads, phone_jpeg((1200, 900)))
    record = factory.file_store().get_file("shop-a", "alice", completed["fileId"])
    assert record is not None
    bucket = factory.image_bucket()
    real_put = bucket.put_preview

    def put_then_delete_file(key: str, body: bytes, content_type: str) -> None:
        real_put(key, body, content_type)
        factory.table().delete(record.key)  # DELETE /files lands while the previews are written

    bucket.put_preview = put_then_delete_file  # type: ignore[method-assign]

    assert make_previews(key_of(completed["fileId"])) == {key_of(completed["fileId"]): "gone"}
    assert not any(aws.object_exists(k) for k in preview_keys(completed["fileId"]))


def test_print_check_answers_dpi_and_verdict_with_the_tenants_thresholds(
    aws: Aws, uploads: Any, files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_id = upload(uploads, phone_jpeg())["fileId"]  # 3000 x 4000 displayed

    assert print_check(files, file_id, {"widthMm": "101.6", "heightMm": "152.4"}) == (
        200,
        {"dpi": 666.7, "verdict": "good"},
    )  # 4000 px over 6 in
    assert print_check(files, file_id, {"widthMm": "508", "heightMm": "406.4"}) == (
        200,
        {"dpi": 187.5, "verdict": "acceptable"},
    )  # 20 x 16 in: 3000 px over 16 in
    assert print_check(files, file_id, {"widthMm": "1000", "heightMm": "700"}) == (
        200,
        {"dpi": 101.6, "verdict": "low"},
    )

    from imagestore.config import get_settings

    monkeypatch.setenv("IMAGESTORE_TENANT_SETTINGS", '{"shop-a": {"print_good_dpi": 180, "print_acceptable_dpi": 90}}')
    get_settings.cache_clear()
    try:
        assert print_check(files, file_id, {"widthMm": "508", "heightMm": "406.4"})[1]["verdict"] == "good"
        assert print_check(files, file_id, {"widthMm": "1000", "heightMm": "700"})[1]["verdict"] == "acceptable"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"widthMm": "100"},
        {"widthMm": "abc", "heightMm": "100"},
        {"widthMm": "0", "heightMm": "100"},
        {"widthMm": "-3", "heightMm": "100"},
        {"widthMm": "nan", "heightMm": "100"},
        {"widthMm": "100", "heightMm": "inf"},
        {"widthMm": "100", "heightMm": "1e9"},
        # issue 24: a 500 (ZeroDivisionError) and {"dpi": Infinity} before
        {"widthMm": "5e-324", "heightMm": "100"},
        {"widthMm": "1e-308", "heightMm": "100"},
        {"widthMm": "100", "heightMm": "0.5"},
    ],
)
def test_print_check_with_bad_parameters_is_400(aws: Aws, files: Any, query: dict[str, str]) -> None:
    record = stored_file(ALICE)
    status, body = print_check(files, record.file_id, query)
    assert status == 400, body
    assert body["error"]["code"] == "bad_request"
    bad = [name for name in ("widthMm", "heightMm") if name not in query] or [
        name for name, value in query.items() if not 1 <= (float(value) if value != "abc" else 0) <= 10_000
    ]
    assert bad[0] in body["error"]["message"]  # the field named


def test_print_check_of_another_tenants_file_is_404(aws: Aws, files: Any) -> None:
    record = stored_file(ALICE)
    status, body = print_check(files, record.file_id, {"widthMm": "100", "heightMm": "100"}, principal=MALLORY)
    assert status == 404 and body["error"]["code"] == "not_found"


# --- previews live and die with their file ---------------------------------------------------------------


def file_with_previews(uploads: Any) -> str:
    file_id = upload(uploads, phone_jpeg((1000, 800)))["fileId"]
    assert make_previews(key_of(file_id)) == {key_of(file_id): "ready"}
    return file_id


def all_gone(aws: Aws, file_id: str) -> bool:
    return not any(aws.object_exists(k) for k in [key_of(file_id), *preview_keys(file_id)])


def test_delete_removes_the_previews(aws: Aws, uploads: Any, files: Any) -> None:
    file_id = file_with_previews(uploads)
    assert all(aws.object_exists(k) for k in preview_keys(file_id))

    status, _ = call(files, api_event("DELETE", "/files/{fileId}", principal=ALICE, path_params={"fileId": file_id}))

    assert status == 204
    assert all_gone(aws, file_id)


def test_logout_and_the_sweep_remove_the_previews(aws: Aws, uploads: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler_service.handlers.logout import handler as logout
    from scheduler_service.handlers.sweep import handler as sweep

    logged_out = file_with_previews(uploads)
    event = {
        "version": "0",
        "id": "e1",
        "detail-type": "UserLoggedOut",
        "source": "shop",
        "account": "123456789012",
        "time": "2026-11-30T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {"tenantId": "shop-a", "userId": "alice", "sessionId": "s1"},
    }
    assert logout(event, LambdaContext())["files_removed"] == 1
    assert all_gone(aws, logged_out)

    swept = file_with_previews(uploads)
    factory.table().update(
        {"pk": "T#shop-a#U#alice", "sk": f"FILE#{swept}"}, "SET sessionId = :s", values={":s": "s-old"}
    )
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(7 * 3600))
    scheduled = {
        "version": "0",
        "id": "e2",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-30T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {},
    }
    assert sweep(scheduled, LambdaContext())["files_removed"] == 1
    assert all_gone(aws, swept)


def test_the_ttl_backstop_removes_the_previews(aws: Aws, uploads: Any) -> None:
    from scheduler_service.handlers.ttl_stream import handler as ttl_stream
    from tests.service.test_scheduler import ttl_removal

    file_id = file_with_previews(uploads)
    item = factory.table().delete({"pk": "T#shop-a#U#alice", "sk": f"FILE#{file_id}"}, return_old=True)
    assert item is not None

    ttl_stream({"Records": [ttl_removal(item)]}, LambdaContext())

    assert all_gone(aws, file_id)


def test_reconciliation_keeps_previews_of_a_file_and_removes_orphaned_ones(aws: Aws, uploads: Any) -> None:
    from scheduler_service.logic.backstop import reconcile
    from scheduler_service.logic.context import expiry_store

    kept = file_with_previews(uploads)
    orphan = "shop-a/alice/nofile"
    for key in (f"{orphan}.preview.thumb", f"{orphan}.preview.screen"):
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")

    report = reconcile(expiry_store(), int(time.time()) + 2 * 86400, pages=10)

    assert report.orphans_deleted == 2
    assert all(aws.object_exists(k) for k in [key_of(kept), *preview_keys(kept)])
    assert not aws.object_exists(f"{orphan}.preview.thumb")


# --- file entries of projects, shares and orders -------------------------------------------------------


def damaged_png() -> bytes:
    """A PNG whose header and end are intact and whose pixel data is zeroed: previews fail."""
    buffer = io.BytesIO()
    Image.effect_noise((800, 600), 60).save(buffer, format="PNG")
    whole = buffer.getvalue()
    return whole[:2000] + bytes(len(whole) - 4000) + whole[-2000:]


def test_projects_shares_copies_and_orders_show_current_previews_without_a_save(
    aws: Aws, uploads: Any, projects: Any, shares: Any, carts: Any, orders: Any
) -> None:
    """Issue 28, item 3: previews made (or failed) after the version was saved show in every view of it,
    with no save in between, and a load reads META alone (its manifest carries no preview state)."""
    early = upload(uploads, phone_jpeg((1000, 800)))["fileId"]  # saved while its previews are pending
    late = file_with_previews(uploads)  # saved with its previews ready
    broken = upload(uploads, damaged_png(), "image/png")["fileId"]  # pending when saved, then failed
    ids = [early, late, broken]
    body = {"name": "Summer", "productType": "photobook", "document": {"pages": ids}, "fileIds": ids}
    status, project = call(projects, api_event("POST", "/projects", principal=ALICE, body=body))
    assert status == 201, project
    project_id = project["projectId"]
    by_id = {f["fileId"]: f for f in project["files"]}
    assert by_id[late]["previewStatus"] == "ready" and by_id[late]["takenAt"] == "2024-07-14T18:30:05"
    assert by_id[early]["previewStatus"] == "pending"
    thumb_url = by_id[early]["previews"]["thumb"]["url"]  # signed before the preview exists
    assert requests.get(thumb_url, timeout=10).status_code in (403, 404)

    assert make_previews(key_of(early)) == {key_of(early): "ready"}
    assert make_previews(key_of(broken)) == {key_of(broken): "failed"}
    assert Image.open(io.BytesIO(requests.get(thumb_url, timeout=10).content)).size == (256, 320)

    aws.requests.reset()
    status, loaded = call(
        projects, api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": project_id})
    )
    assert status == 200, loaded
    assert aws.requests.calls["dynamodb.GetItem"] == 1 and aws.requests.calls["dynamodb.BatchGetItem"] == 0
    _, created = call(
        shares,
        api_event(
            "POST",
            "/projects/{projectId}/shares",
            principal=ALICE,
            path_params={"projectId": project_id},
            body={"mode": "copy"},
        ),
    )
    bob = Principal("shop-a", "bob", "s2")
    status, shared = call(
        shares, api_event("GET", "/shares/{token}", principal=bob, path_params={"token": created["token"]})
    )
    assert status == 200, shared
    status, copy = call(
        shares, api_event("POST", "/shares/{token}/copies", principal=bob, path_params={"token": created["token"]})
    )
    assert status == 201, copy
    status, copy_loaded = call(
        projects,
        api_event("GET", "/projects/{projectId}", principal=bob, path_params={"projectId": copy["projectId"]}),
    )
    assert status == 200, copy_loaded
    _, cart_item = call(
        carts,
        api_event(
            "POST",
            "/cart-items",
            principal=ALICE,
            body={"productSku": "BOOK-A4", "quantity": 1, "projectId": project_id},
        ),
    )
    status, order = call(
        orders,
        api_event(
            "POST",
            "/orders",
            principal=ALICE,
            body={"cartItemIds": [cart_item["cartItemId"]], "externalOrderRef": "o-18"},
        ),
    )
    assert status == 201, order
    status, order_loaded = call(
        orders, api_event("GET", "/orders/{orderId}", principal=ALICE, path_params={"orderId": order["orderId"]})
    )
    assert status == 200, order_loaded
    views = {
        "load": loaded["files"],
        "share": shared["project"]["files"],
        "copy": copy_loaded["files"],
        "order": order_loaded["projects"][0]["files"],
    }
    for view, entries in views.items():
        assert [f["fileId"] for f in entries] == ids, view
        assert [f["previewStatus"] for f in entries] == ["pending", "ready", "failed"], view
        assert entries[2]["previews"] is None, view  # failed: says so, no URL that never answers
        for entry in entries[:2]:
            data = requests.get(entry["previews"]["thumb"]["url"], timeout=10).content
            assert Image.open(io.BytesIO(data)).size == (256, 320), view
        assert entries[1]["previews"]["thumb"]["width"] == 256  # known ready when saved: with its size


def test_a_save_reads_none_of_the_files_it_keeps(aws: Aws, projects: Any) -> None:
    """Issue 28, item 3: the first save after a create whose previews were pending reads no file again
    (views sign previews without reading): one GetItem (META), no BatchGetItem."""
    from tests.support.files import stored_files

    records = stored_files(ALICE, 3)
    for record in records:  # as completed, before the previews function ran
        factory.table().update(record.key, "REMOVE previewStatus, previews")
    ids = [r.file_id for r in records]
    body = {"name": "Summer", "productType": "photobook", "document": {"pages": ids}, "fileIds": ids}
    status, project = call(projects, api_event("POST", "/projects", principal=ALICE, body=body))
    assert status == 201, project

    aws.requests.reset()
    status, saved = call(
        projects,
        api_event(
            "PUT",
            "/projects/{projectId}",
            principal=ALICE,
            body=body,
            path_params={"projectId": project["projectId"]},
            headers={"If-Match": "1"},
        ),
    )
    assert status == 200, saved
    assert aws.requests.calls["dynamodb.BatchGetItem"] == 0 and aws.requests.calls["dynamodb.GetItem"] == 1
    assert [f["previewStatus"] for f in saved["files"]] == ["pending"] * 3
    assert all(set(f["previews"]) == {"thumb", "screen"} for f in saved["files"])


def test_the_backfill_invokes_the_function_for_files_completed_before_previews(aws: Aws, uploads: Any) -> None:
    from deploy.backfill_previews import backfill
    from file_service.handlers.previews import handler

    old = upload(uploads, phone_jpeg((600, 400)))["fileId"]  # completed, previews never made
    done = file_with_previews(uploads)

    sent: list[dict[str, Any]] = []
    assert backfill(sent.append, bucket=BUCKET, region="eu-west-1", dry_run=True, rate=1000) == 1
    assert sent == []

    assert backfill(sent.append, bucket=BUCKET, region="eu-west-1", dry_run=False, rate=1000) == 1
    assert [e["Records"][0]["s3"]["object"]["key"] for e in sent] == [key_of(old)]
    assert handler(sent[0], LambdaContext())["outcomes"] == {key_of(old): "ready"}
    assert backfill(sent.append, bucket=BUCKET, region="eu-west-1", dry_run=True, rate=1000) == 0
    assert aws.object_exists(preview_keys(done)[0])


def test_a_failure_between_the_read_and_the_acquire_is_recorded_by_the_acquire(
    aws: Aws, projects: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The previews function fails a file after a create read it (pending) but before its acquire: the
    failure write found no H# mark of the project, so the acquire's own write tells the create, which
    records it on META; the load shows it failed without reading the file."""
    from imagestore.data.files import FileStore
    from imagestore.models.files import PreviewStatus
    from tests.support.files import stored_files

    (record,) = stored_files(ALICE, 1, previews_made=False)
    read = FileStore.get_files

    def read_then_fail(self: FileStore, tenant_id: str, user_id: str, file_ids: list[str]) -> dict[str, Any]:
        found = read(self, tenant_id, user_id, file_ids)
        assert found[record.file_id].preview_status is PreviewStatus.PENDING
        assert self.mark_previews_failed(found[record.file_id], "not an image") == []  # no holder yet
        return found

    monkeypatch.setattr(FileStore, "get_files", read_then_fail)
    ids = [record.file_id]
    body = {"name": "Summer", "productType": "photobook", "document": {"pages": ids}, "fileIds": ids}
    status, project = call(projects, api_event("POST", "/projects", principal=ALICE, body=body))
    assert status == 201, project
    assert aws.item(f"T#shop-a#P#{project['projectId']}", "META")["previewFailed"] == {record.file_id}
    status, loaded = call(
        projects,
        api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": project["projectId"]}),
    )
    assert status == 200, loaded
    assert loaded["files"][0]["previewStatus"] == "failed" and loaded["files"][0]["previews"] is None
