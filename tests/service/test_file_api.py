"""File API handlers in-process against moto, with the table and bucket of serverless.yml."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import ANY

import pytest
import requests

from imagestore.auth import Principal
from tests.conftest import BUCKET, Aws
from tests.support.events import api_event, call
from tests.support.images import jpeg, png

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s9")
MALLORY = Principal("shop-b", "alice", "s1")  # same user id, other tenant


@pytest.fixture
def uploads_handler(aws: Aws) -> Any:
    from file_service.handlers.uploads import handler

    return handler


def request_upload(
    handler: Any,
    principal: Principal = ALICE,
    *,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    size: int = 100,
) -> tuple[int, Any]:
    body = {"filename": filename, "contentType": content_type, "sizeBytes": size}
    return call(handler, api_event("POST", "/uploads", principal=principal, body=body))


def post_bytes(ticket: dict[str, Any], data: bytes) -> int:
    upload = ticket["upload"]
    response = requests.post(upload["url"], data=upload["fields"], files={"file": ("f", data)}, timeout=10)
    return response.status_code


def complete(handler: Any, file_id: str, principal: Principal = ALICE) -> tuple[int, Any]:
    event = api_event("POST", "/uploads/{fileId}/complete", principal=principal, path_params={"fileId": file_id})
    return call(handler, event)


def uploaded_file(
    handler: Any, data: bytes, principal: Principal = ALICE, content_type: str = "image/jpeg"
) -> dict[str, Any]:
    status, ticket = request_upload(handler, principal, content_type=content_type, size=len(data))
    assert status == 201, ticket
    assert post_bytes(ticket, data) == 204
    status, body = complete(handler, ticket["fileId"], principal)
    assert status == 200, body
    return body


def get(handler: Any, file_id: str, principal: Principal = ALICE) -> tuple[int, Any]:
    return call(handler, api_event("GET", "/files/{fileId}", principal=principal, path_params={"fileId": file_id}))


def test_request_upload_records_a_pending_file_and_a_presigned_post(aws: Aws, uploads_handler: Any) -> None:
    status, ticket = request_upload(uploads_handler, size=1234)

    assert status == 201
    assert ticket["upload"]["method"] == "POST"
    fields = ticket["upload"]["fields"]
    assert fields["key"] == f"shop-a/alice/{ticket['fileId']}.upload"  # the staging key, not the served one
    assert fields["Content-Type"] == "image/jpeg"
    policy = json.loads(__import__("base64").b64decode(fields["policy"]))
    assert ["content-length-range", 1234, 1234] in policy["conditions"]
    assert ["eq", "$key", fields["key"]] in policy["conditions"]
    item = aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")
    assert item is not None
    assert item["status"] == "pending" and item["entity"] == "file" and item["sizeBytes"] == 1234


def test_upload_complete_get_returns_the_same_bytes(aws: Aws, uploads_handler: Any, files: Any) -> None:
    data = jpeg((120, 80))
    completed = uploaded_file(uploads_handler, data)

    assert completed["status"] == "available"
    assert (completed["width"], completed["height"]) == (120, 80)
    status, body = get(files, completed["fileId"])
    assert status == 200
    assert requests.get(body["downloadUrl"], timeout=10).content == data


def test_complete_is_idempotent_and_the_s3_event_agrees(aws: Aws, uploads_handler: Any) -> None:
    from file_service.handlers.object_created import handler as object_created

    data = png((10, 10))
    _, ticket = request_upload(uploads_handler, content_type="image/png", size=len(data))
    post_bytes(ticket, data)
    key = ticket["upload"]["fields"]["key"]
    event = {"Records": [_s3_record(key, len(data))]}

    assert object_created(event, _context())["outcomes"] == {key: "available"}
    assert complete(uploads_handler, ticket["fileId"])[0] == 200
    assert object_created(event, _context())["outcomes"] == {key: "discarded"}
    assert aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")["status"] == "available"


def test_complete_before_the_bytes_arrive_is_409(uploads_handler: Any) -> None:
    _, ticket = request_upload(uploads_handler)
    status, body = complete(uploads_handler, ticket["fileId"])
    assert status == 409
    assert body["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("declared", "data", "reason"),
    [
        ("image/jpeg", b"just some text, not a photo" * 10, "not an image"),
        ("image/jpeg", png((8, 8)), "image/png, not the declared image/jpeg"),
        ("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 60, "dimensions cannot be read"),
    ],
)
def test_complete_refuses_content_that_is_not_the_declared_image(
    aws: Aws, uploads_handler: Any, declared: str, data: bytes, reason: str
) -> None:
    _, ticket = request_upload(uploads_handler, content_type=declared, size=len(data))
    post_bytes(ticket, data)

    status, body = complete(uploads_handler, ticket["fileId"])

    assert status == 422
    assert reason in body["error"]["message"]
    assert not aws.object_exists(ticket["upload"]["fields"]["key"])
    assert aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")["status"] == "pending"


def test_complete_refuses_bytes_of_another_size_than_declared(aws: Aws, uploads_handler: Any) -> None:
    data = jpeg()
    _, ticket = request_upload(uploads_handler, size=len(data) + 5)
    aws.s3.put_object(Bucket=BUCKET, Key=ticket["upload"]["fields"]["key"], Body=data)

    status, body = complete(uploads_handler, ticket["fileId"])

    assert status == 422
    assert body["error"]["details"] == {"declaredBytes": len(data) + 5, "uploadedBytes": len(data)}


def _uploaded_over_the_pixel_limit(monkeypatch: pytest.MonkeyPatch, uploads_handler: Any) -> tuple[bytes, Any]:
    """A 100 x 100 PNG uploaded (not completed) by a tenant whose limit is 1,000 pixels: its bytes and ticket."""
    from imagestore.config import get_settings

    monkeypatch.setenv("IMAGESTORE_TENANT_SETTINGS", json.dumps({"shop-a": {"max_pixels": 1000}}))
    get_settings.cache_clear()
    data = png((100, 100))
    _, ticket = request_upload(uploads_handler, content_type="image/png", size=len(data))
    post_bytes(ticket, data)
    return data, ticket


def test_complete_refuses_images_over_the_tenant_pixel_limit(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, uploads_handler: Any
) -> None:
    _, ticket = _uploaded_over_the_pixel_limit(monkeypatch, uploads_handler)

    status, body = complete(uploads_handler, ticket["fileId"])

    assert status == 422
    assert body["error"]["details"]["maxPixels"] == 1000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10**12}, 413, "payload_too_large"),
        ({"filename": "a.gif", "contentType": "image/gif", "sizeBytes": 10}, 415, "unsupported_media_type"),
        ({"filename": "a.jpg", "contentType": "image/jpeg"}, 400, "bad_request"),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 0}, 400, "bad_request"),
        ({"filename": "../a.jpg", "contentType": "image/jpeg", "sizeBytes": 10}, 400, "bad_request"),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10, "x": 1}, 400, "bad_request"),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": True}, 400, "bad_request"),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": "12"}, 400, "bad_request"),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 12.0}, 400, "bad_request"),
        ({"filename": "photo\u202egpj.exe", "contentType": "image/jpeg", "sizeBytes": 10}, 400, "bad_request"),
        ({"filename": "a\u200b.jpg", "contentType": "image/jpeg", "sizeBytes": 10}, 400, "bad_request"),
        ({"filename": "a\x7f.jpg", "contentType": "image/jpeg", "sizeBytes": 10}, 400, "bad_request"),
        ({"filename": "a\x85.jpg", "contentType": "image/jpeg", "sizeBytes": 10}, 400, "bad_request"),
        # issue 24: line and paragraph separators (Zl, Zp) were accepted
        ({"filename": "a\u2028.jpg", "contentType": "image/jpeg", "sizeBytes": 10}, 400, "bad_request"),
        ({"filename": "a\u2029.jpg", "contentType": "image/jpeg", "sizeBytes": 10}, 400, "bad_request"),
        ({"filename": "..", "contentType": "image/jpeg", "sizeBytes": 10}, 400, "bad_request"),
    ],
)
def test_bad_upload_requests_get_a_4xx_with_an_error_body(
    uploads_handler: Any, body: dict[str, Any], status: int, code: str
) -> None:
    got_status, got = call(uploads_handler, api_event("POST", "/uploads", principal=ALICE, body=body))
    assert got_status == status
    assert got["error"]["code"] == code


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[]",
        "",
        "[" * 10_000 + "]" * 10_000,  # json.loads would recurse past the interpreter's limit
        '{"filename": ' + "[" * 65 + "]" * 65 + "}",
        '{"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": NaN}',
        '{"filename": "\\udc00.jpg", "contentType": "image/jpeg", "sizeBytes": 10}',
        '{"filename": "\udcff.jpg"}',  # a body that was not UTF-8, as a surrogate-escaped str
    ],
)
def test_malformed_json_is_400(uploads_handler: Any, raw: str) -> None:
    status, body = call(uploads_handler, api_event("POST", "/uploads", principal=ALICE, raw_body=raw))
    assert status == 400
    assert body["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"filename": "\xff\xfe.jpg"}', 400),
        (b" " * (4 * 2**20 + 1), 413),
        (b'{"a": "' + b"x" * 4 * 2**20 + b'"}', 413),
        (b"%%%", 400),
    ],
)
def test_a_binary_body_that_is_not_utf8_json_is_4xx(uploads_handler: Any, raw: bytes, status: int) -> None:
    import base64

    event = api_event("POST", "/uploads", principal=ALICE)
    event["body"] = "%%%" if raw == b"%%%" else base64.b64encode(raw).decode()
    event["isBase64Encoded"] = True
    got, body = call(uploads_handler, event)
    assert got == status
    assert body["error"]["code"] == {400: "bad_request", 413: "payload_too_large"}[status]


def test_list_is_paginated_newest_first(uploads_handler: Any, files: Any) -> None:
    ids = [request_upload(uploads_handler)[1]["fileId"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, body = call(files, api_event("GET", "/files", principal=ALICE, query=query))
        assert status == 200
        seen += [f["fileId"] for f in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert pages == 3


def test_a_cursor_cannot_be_tampered_with_or_used_by_someone_else(uploads_handler: Any, files: Any) -> None:
    for _ in range(3):
        request_upload(uploads_handler)
    _, first = call(files, api_event("GET", "/files", principal=ALICE, query={"limit": "1"}))
    cursor = first["nextCursor"]
    import base64

    forged = base64.urlsafe_b64encode(json.dumps({"pk": "T#shop-a#U#bob", "sk": "FILE#z"}).encode()).decode()
    for principal, bad in [(BOB, cursor), (MALLORY, cursor), (ALICE, forged), (ALICE, "%%%"), (ALICE, "e30")]:
        status, body = call(files, api_event("GET", "/files", principal=principal, query={"cursor": bad}))
        assert status == 400, (principal, bad)
        assert body["error"]["code"] == "invalid_cursor"


def test_other_users_and_tenants_get_404(aws: Aws, uploads_handler: Any, files: Any) -> None:
    file_id = uploaded_file(uploads_handler, jpeg())["fileId"]
    for intruder in (BOB, MALLORY):
        assert get(files, file_id, intruder)[0] == 404
        assert complete(uploads_handler, file_id, intruder)[0] == 404
        delete = api_event("DELETE", "/files/{fileId}", principal=intruder, path_params={"fileId": file_id})
        status, body = call(files, delete)
        assert status == 404 and body["error"]["code"] == "not_found"
        _, listing = call(files, api_event("GET", "/files", principal=intruder))
        assert listing["items"] == []
    assert get(files, file_id)[0] == 200


def test_delete_removes_item_and_object_then_404(aws: Aws, uploads_handler: Any, files: Any) -> None:
    file_id = uploaded_file(uploads_handler, jpeg())["fileId"]
    delete = api_event("DELETE", "/files/{fileId}", principal=ALICE, path_params={"fileId": file_id})

    assert call(files, delete)[0] == 204
    assert aws.item("T#shop-a#U#alice", f"FILE#{file_id}") is None
    assert not aws.object_exists(f"shop-a/alice/{file_id}")
    assert get(files, file_id)[0] == 404
    assert call(files, delete)[0] == 404


def test_delete_of_a_held_file_is_409_and_keeps_it(aws: Aws, uploads_handler: Any, files: Any) -> None:
    file_id = uploaded_file(uploads_handler, jpeg())["fileId"]
    aws.dynamodb.update_item(
        TableName="imagestore-test",
        Key={"pk": {"S": "T#shop-a#U#alice"}, "sk": {"S": f"FILE#{file_id}"}},
        UpdateExpression="SET holdCount = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    delete = api_event("DELETE", "/files/{fileId}", principal=ALICE, path_params={"fileId": file_id})

    status, body = call(files, delete)

    assert status == 409
    assert body["error"]["details"] == {"holdCount": 1}
    assert aws.object_exists(f"shop-a/alice/{file_id}")


def test_unknown_ids_are_404(files: Any, uploads_handler: Any) -> None:
    assert get(files, "01h00000000000000000000000")[0] == 404
    assert get(files, "not-an-id")[0] == 404
    assert complete(uploads_handler, "01h00000000000000000000000")[0] == 404


def test_a_mobile_upload_token_cannot_list_or_read_files(uploads_handler: Any, files: Any) -> None:
    from tests.service.test_mobile_uploads import open_mobile_upload

    upload = open_mobile_upload(ALICE)
    phone = Principal("shop-a", "alice", "s1", (f"mobile-upload:{upload.mobile_upload_id}",))
    status, body = call(files, api_event("GET", "/files", principal=phone))
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, ticket = request_upload(uploads_handler, phone)
    assert status == 201
    assert get(files, ticket["fileId"], phone)[0] == 403


def test_a_request_without_authorizer_context_is_401(files: Any) -> None:
    status, body = call(files, api_event("GET", "/files", principal=None))
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


def test_each_operation_makes_a_bounded_number_of_aws_requests(aws: Aws, uploads_handler: Any, files: Any) -> None:
    data = jpeg()
    measured: dict[str, dict[str, int]] = {}

    def measure(name: str, handler: Any, event: dict[str, Any]) -> Any:
        aws.requests.reset()
        status, body = call(handler, event)
        assert status < 300, body
        measured[name] = dict(aws.requests.calls)
        return body

    ticket = measure(
        "request_upload",
        uploads_handler,
        api_event(
            "POST",
            "/uploads",
            principal=ALICE,
            body={"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": len(data)},
        ),
    )
    post_bytes(ticket, data)
    path = {"fileId": ticket["fileId"]}
    measure(
        "complete", uploads_handler, api_event("POST", "/uploads/{fileId}/complete", principal=ALICE, path_params=path)
    )
    measure("list", files, api_event("GET", "/files", principal=ALICE))
    measure("get", files, api_event("GET", "/files/{fileId}", principal=ALICE, path_params=path))
    measure("delete", files, api_event("DELETE", "/files/{fileId}", principal=ALICE, path_params=path))

    assert measured == {
        # The first call of an execution environment also reads the caller's tenant registry entry (one
        # GetItem); the others find it in the cache (IMAGESTORE_TENANT_CACHE_SECONDS).
        "request_upload": {"dynamodb.GetItem": 1, "dynamodb.PutItem": 1},
        "complete": {
            "dynamodb.GetItem": 1,
            "s3.HeadObject": 1,
            "s3.GetObject": 1,
            "s3.CopyObject": 1,
            "dynamodb.UpdateItem": 1,
            "s3.DeleteObjects": 1,
            # The user's SHA256# pointer: S3 computed the copy's SHA-256 (none was declared).
            "dynamodb.PutItem": 1,
        },
        "list": {"dynamodb.Query": 1},
        "get": {"dynamodb.GetItem": 1},
        "delete": {"dynamodb.GetItem": 1, "dynamodb.DeleteItem": 1, "s3.DeleteObjects": 1},
    }


def _s3_record(key: str, size: int) -> dict[str, Any]:
    """The record S3 sends the objectCreated function for a browser's POST of key."""
    from imagestore_local.s3_events import object_created_event

    return object_created_event(BUCKET, key, size, "e", "ObjectCreated:Post", "eu-west-1")["Records"][0]


def _context() -> Any:
    from tests.support.events import LambdaContext

    return LambdaContext()


@pytest.mark.parametrize(
    "key",
    [
        b'{"pk": "T#shop-a#U#alice", "sk": ""}',
        b'{"pk": "T#shop-a#U#alice", "sk": "FILE#' + b"x" * 2000 + b'"}',
        b"[" * 3000 + b"]" * 3000,
    ],
)
def test_a_cursor_the_table_could_not_take_is_400(files: Any, key: bytes) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(key).decode()
    status, body = call(files, api_event("GET", "/files", principal=ALICE, query={"cursor": cursor}))
    assert status == 400
    assert body["error"]["code"] == "invalid_cursor"


def test_a_principal_whose_token_expired_after_the_authorizer_cached_it_is_401(files: Any) -> None:
    import time

    expired = Principal("shop-a", "alice", "s1", expires_at=int(time.time()) - 60)
    status, body = call(files, api_event("GET", "/files", principal=expired))
    assert status == 401
    assert body == {"error": {"code": "unauthorized", "message": "token has expired", "requestId": ANY}}
    fresh = Principal("shop-a", "alice", "s1", expires_at=int(time.time()) + 60)
    assert call(files, api_event("GET", "/files", principal=fresh))[0] == 200


# --- verified bytes stay verified ------------------------------------------------------------------


def _download(files: Any, file_id: str) -> bytes:
    status, body = get(files, file_id)
    assert status == 200, body
    return requests.get(body["downloadUrl"], timeout=10).content


def test_a_post_repeated_after_complete_cannot_change_the_served_bytes(
    aws: Aws, uploads_handler: Any, files: Any
) -> None:
    from file_service.handlers.object_created import handler as object_created

    data = jpeg((120, 80))
    _, ticket = request_upload(uploads_handler, size=len(data))
    assert post_bytes(ticket, data) == 204
    assert complete(uploads_handler, ticket["fileId"])[0] == 200
    staging = ticket["upload"]["fields"]["key"]
    assert not aws.object_exists(staging)

    html = (b"<html><script>alert(1)</script>" * 1000)[: len(data)]
    assert post_bytes(ticket, html) == 204  # the URL is still valid: S3 takes it, at the staging key

    assert _download(files, ticket["fileId"]) == data
    assert complete(uploads_handler, ticket["fileId"])[1]["status"] == "available"
    assert object_created({"Records": [_s3_record(staging, len(html))]}, _context())["outcomes"] == {
        staging: "discarded"
    }
    assert not aws.object_exists(staging)
    assert _download(files, ticket["fileId"]) == data


def test_after_delete_the_upload_fields_cannot_recreate_a_served_object(
    aws: Aws, uploads_handler: Any, files: Any
) -> None:
    from file_service.handlers.object_created import handler as object_created

    data = jpeg()
    _, ticket = request_upload(uploads_handler, size=len(data))
    post_bytes(ticket, data)
    assert complete(uploads_handler, ticket["fileId"])[0] == 200
    status, _ = call(
        files, api_event("DELETE", "/files/{fileId}", principal=ALICE, path_params={"fileId": ticket["fileId"]})
    )
    assert status == 204

    assert post_bytes(ticket, data) == 204
    staging = ticket["upload"]["fields"]["key"]
    assert object_created({"Records": [_s3_record(staging, len(data))]}, _context())["outcomes"] == {
        staging: "discarded"
    }
    assert not aws.object_exists(staging)
    assert not aws.object_exists(staging.removesuffix(".upload"))
    assert get(files, ticket["fileId"])[0] == 404


def test_bytes_replaced_while_they_are_checked_are_not_made_available(
    aws: Aws, uploads_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagestore.data.storage import ImageBucket

    data, other = jpeg((64, 48)), png((64, 48))
    _, ticket = request_upload(uploads_handler, size=len(data))
    post_bytes(ticket, data)
    read_range = ImageBucket.read_range

    def replaced_after_reading(
        self: ImageBucket, key: str, start: int, length: int, *, etag: str | None = None
    ) -> bytes:
        content = read_range(self, key, start, length, etag=etag)
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=other[: len(data)].ljust(len(data), b"\0"))
        return content

    monkeypatch.setattr(ImageBucket, "read_range", replaced_after_reading)
    status, body = complete(uploads_handler, ticket["fileId"])

    assert status == 409
    assert body["error"]["code"] == "conflict" and "changed while they were checked" in body["error"]["message"]
    listed = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"shop-a/alice/{ticket['fileId']}")
    assert [o["Key"] for o in listed.get("Contents", [])] == [ticket["upload"]["fields"]["key"]]  # staging only
    assert aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")["status"] == "pending"


def test_a_truncated_jpeg_is_refused(aws: Aws, uploads_handler: Any) -> None:
    import io
    import os

    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3)).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()[:-5000]
    assert len(data) > 256 * 1024
    _, ticket = request_upload(uploads_handler, size=len(data))
    post_bytes(ticket, data)

    status, body = complete(uploads_handler, ticket["fileId"])

    assert status == 422
    assert body["error"]["code"] == "unprocessable" and "cut short" in body["error"]["message"]
    assert not aws.object_exists(ticket["upload"]["fields"]["key"])


@pytest.mark.parametrize(("size", "tile_size"), [((640, 480), 0), ((1024, 768), 256)])
def test_a_real_heic_is_completed_with_its_size(
    uploads_handler: Any, files: Any, size: tuple[int, int], tile_size: int
) -> None:
    from tests.support.images import heic

    data = heic(size, tile_size=tile_size)
    completed = uploaded_file(uploads_handler, data, content_type="image/heic")
    assert (completed["width"], completed["height"]) == size
    assert _download(files, completed["fileId"]) == data


def test_heic_is_held_to_the_pixel_limit_too(monkeypatch: pytest.MonkeyPatch, uploads_handler: Any) -> None:
    from imagestore.config import get_settings
    from tests.support.images import heic

    monkeypatch.setenv("IMAGESTORE_TENANT_SETTINGS", json.dumps({"shop-a": {"max_pixels": 500_000}}))
    get_settings.cache_clear()
    data = heic((1024, 768), tile_size=256)
    _, ticket = request_upload(uploads_handler, content_type="image/heic", size=len(data))
    post_bytes(ticket, data)

    status, body = complete(uploads_handler, ticket["fileId"])

    assert status == 422
    assert body["error"]["details"] == {"width": 1024, "height": 768, "pixels": 1024 * 768, "maxPixels": 500_000}


def test_something_that_only_starts_like_heic_is_refused(uploads_handler: Any) -> None:
    import struct

    data = struct.pack(">I", 24) + b"ftypheic" + struct.pack(">I", 0) + b"mif1heic" + b"<html>ispe</html>" * 40
    _, ticket = request_upload(uploads_handler, content_type="image/heic", size=len(data))
    post_bytes(ticket, data)

    status, body = complete(uploads_handler, ticket["fileId"])

    assert status == 422
    assert "dimensions cannot be read" in body["error"]["message"]


# --- a refusal reaches the client even when the other completion refused first ---------------------
# The client's complete and the ObjectCreated function both verify the staging object; the one that
# refuses it records the refusal on the pending file, then deletes the object. The other one finds the
# bytes gone and answers the same 422, not 409 ("changed ..." / "no bytes have been uploaded yet").


def _refused_by_object_created(ticket: dict[str, Any], size: int) -> str:
    from file_service.handlers.object_created import handler as object_created

    staging = ticket["upload"]["fields"]["key"]
    assert object_created({"Records": [_s3_record(staging, size)]}, _context())["outcomes"] == {
        staging: "unprocessable"
    }
    return staging


def test_a_refusal_by_the_s3_event_is_what_the_clients_complete_answers(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, uploads_handler: Any, files: Any
) -> None:
    data, ticket = _uploaded_over_the_pixel_limit(monkeypatch, uploads_handler)
    etag = aws.s3.head_object(Bucket=BUCKET, Key=ticket["upload"]["fields"]["key"])["ETag"]

    staging = _refused_by_object_created(ticket, len(data))

    assert not aws.object_exists(staging)
    details = {"width": 100, "height": 100, "pixels": 10_000, "maxPixels": 1000}
    item = aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")
    assert item["status"] == "pending"
    assert item["refusal"]["etag"] == etag and item["refusal"]["code"] == "unprocessable"
    for _ in range(2):  # and again: the answer does not depend on who refused
        status, body = complete(uploads_handler, ticket["fileId"])
        assert status == 422, body
        assert body["error"]["code"] == "unprocessable"
        assert body["error"]["details"] == details
        assert "over the limit of 1000" in body["error"]["message"]
    status, view = get(files, ticket["fileId"])
    assert status == 200 and view["status"] == "pending"
    assert view["refusal"] == {"code": "unprocessable", "message": body["error"]["message"], "details": details}
    for intruder in (BOB, MALLORY):
        assert complete(uploads_handler, ticket["fileId"], intruder)[0] == 404
        assert get(files, ticket["fileId"], intruder)[0] == 404


@pytest.mark.parametrize("moment", ["before the client's HEAD", "between the client's HEAD and GET"])
def test_a_concurrent_refusal_during_the_clients_check_is_answered_422_not_409(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, uploads_handler: Any, moment: str
) -> None:
    """The ObjectCreated run refuses and deletes the object while the client's complete is under way:
    after the client read the file item (which has no refusal yet), before or after its HEAD."""
    from imagestore.data.storage import ImageBucket

    data = png((8, 8))
    _, ticket = request_upload(uploads_handler, content_type="image/jpeg", size=len(data))
    post_bytes(ticket, data)
    patched = "head" if moment.startswith("before") else "read_range"
    original = getattr(ImageBucket, patched)
    raced: list[bool] = []

    def concurrent_refusal_first(self: ImageBucket, key: str, *args: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append(True)
            _refused_by_object_created(ticket, len(data))  # its own reads go through: raced is set
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(ImageBucket, patched, concurrent_refusal_first)
    status, body = complete(uploads_handler, ticket["fileId"])

    assert raced
    assert status == 422, body
    assert body["error"]["code"] == "unprocessable"
    assert body["error"]["details"] == {"declaredType": "image/jpeg", "actualType": "image/png"}
    assert not aws.object_exists(ticket["upload"]["fields"]["key"])
    assert aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")["status"] == "pending"


def test_bytes_deleted_during_the_check_without_a_refusal_are_still_409(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, uploads_handler: Any
) -> None:
    from imagestore.data.storage import ImageBucket

    data = jpeg((64, 48))
    _, ticket = request_upload(uploads_handler, size=len(data))
    post_bytes(ticket, data)
    read_range = ImageBucket.read_range

    def deleted_before_reading(
        self: ImageBucket, key: str, start: int, length: int, *, etag: str | None = None
    ) -> bytes:
        aws.s3.delete_object(Bucket=BUCKET, Key=key)
        return read_range(self, key, start, length, etag=etag)

    monkeypatch.setattr(ImageBucket, "read_range", deleted_before_reading)
    status, body = complete(uploads_handler, ticket["fileId"])

    assert status == 409
    assert "changed while they were checked" in body["error"]["message"]


def test_an_upload_after_a_refusal_is_verified_on_its_own_and_clears_the_refusal(
    aws: Aws, uploads_handler: Any, files: Any
) -> None:
    data = jpeg((120, 80))
    text = b"not a photo at all; " * (len(data) // 20 + 1)
    _, ticket = request_upload(uploads_handler, size=len(data))
    assert post_bytes(ticket, text[: len(data)]) == 204
    assert complete(uploads_handler, ticket["fileId"])[0] == 422
    assert aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")["refusal"]["code"] == "unprocessable"
    assert get(files, ticket["fileId"])[1]["refusal"]["code"] == "unprocessable"

    assert post_bytes(ticket, data) == 204  # the same presigned POST, still valid
    status, body = complete(uploads_handler, ticket["fileId"])

    assert status == 200, body
    assert body["status"] == "available" and body["refusal"] is None
    item = aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")
    assert item["status"] == "available" and "refusal" not in item
    assert _download(files, ticket["fileId"]) == data
    assert get(files, ticket["fileId"])[1]["refusal"] is None
    assert get(files, ticket["fileId"], MALLORY)[0] == 404
