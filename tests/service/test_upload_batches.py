"""Batches of tickets and completions, SHA-256 checksums and duplicates, in-process against moto."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
import requests

from imagestore.auth import Principal
from tests.conftest import Aws
from tests.support.events import api_event, call
from tests.support.images import jpeg, png

ALICE = Principal("shop-a", "alice", "s1")
ALICE_LATER = Principal("shop-a", "alice", "s2")  # a new browser session of the same user
BOB = Principal("shop-a", "bob", "s9")
MALLORY = Principal("shop-b", "alice", "s1")  # same user id, other tenant


@pytest.fixture
def uploads(aws: Aws) -> Any:
    from file_service.handlers.uploads import handler

    return handler


def sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def describe(
    data: bytes, name: str = "p.jpg", content_type: str = "image/jpeg", checksum: bool = True
) -> dict[str, Any]:
    body: dict[str, Any] = {"filename": name, "contentType": content_type, "sizeBytes": len(data)}
    if checksum:
        body["sha256"] = sha256(data)
    return body


def request_batch(handler: Any, files: list[Any], principal: Principal = ALICE) -> tuple[int, Any]:
    return call(handler, api_event("POST", "/upload-batches", principal=principal, body={"files": files}))


def complete_batch(handler: Any, file_ids: list[Any], principal: Principal = ALICE) -> tuple[int, Any]:
    return call(handler, api_event("POST", "/upload-batches/complete", principal=principal, body={"fileIds": file_ids}))


def post(ticket: dict[str, Any], data: bytes) -> int:
    upload = ticket["upload"]
    return requests.post(upload["url"], data=upload["fields"], files={"file": ("f", data)}, timeout=10).status_code


def photos(count: int) -> list[bytes]:
    return [jpeg((40 + n, 30)) for n in range(count)]


def test_a_hundred_tickets_and_completions_in_two_calls(aws: Aws, uploads: Any) -> None:
    datas = photos(100)
    status, body = request_batch(uploads, [describe(d, f"p{n}.jpg") for n, d in enumerate(datas)])

    assert status == 200 and body["failed"] == 0 and body["duplicates"] == 0
    assert [i["status"] for i in body["items"]] == [201] * 100
    tickets = [i["ticket"] for i in body["items"]]
    assert len({t["fileId"] for t in tickets}) == 100
    assert tickets[0]["upload"]["fields"]["x-amz-checksum-sha256"] == sha256(datas[0])
    for ticket, data in zip(tickets, datas, strict=True):
        assert post(ticket, data) == 204
    aws.requests.reset()

    status, done = complete_batch(uploads, [t["fileId"] for t in tickets])

    assert status == 200 and done["failed"] == 0
    assert [(i["status"], i["file"]["status"]) for i in done["items"]] == [(200, "available")] * 100
    assert done["items"][7]["file"]["width"] == 47
    assert aws.requests.calls["dynamodb.BatchGetItem"] == 1  # the 100 files read at once
    stored = aws.s3.get_object(Bucket="imagestore-test-images", Key=f"shop-a/alice/{tickets[3]['fileId']}")
    assert stored["Body"].read() == datas[3]
    item = aws.item("T#shop-a#U#alice", f"FILE#{tickets[3]['fileId']}")
    assert item is not None and item["sha256"] == sha256(datas[3])


def test_each_item_is_answered_on_its_own(aws: Aws, uploads: Any) -> None:
    good = jpeg()
    files = [
        describe(good),
        {"filename": "x.jpg", "contentType": "image/jpeg"},  # no size
        describe(good, content_type="application/pdf", checksum=False),
        {**describe(good, checksum=False), "sizeBytes": 10**12},
        {**describe(good, checksum=False), "sha256": "not base64!"},
        describe(good),  # the same bytes again in one batch
        "not an object",
    ]
    status, body = request_batch(uploads, files)

    assert status == 200
    assert [i["status"] for i in body["items"]] == [201, 400, 415, 413, 400, 400, 400]
    assert body["failed"] == 6
    assert body["items"][1]["error"]["details"]["problems"][0]["field"] == "sizeBytes"
    assert body["items"][5]["error"]["details"] == {"sameAs": 0}
    assert body["items"][0]["ticket"]["upload"] is not None


@pytest.mark.parametrize("files", [[], [{"filename": "a.jpg"}] * 101, None, "x"])
def test_an_empty_or_oversized_batch_is_a_400(uploads: Any, files: Any) -> None:
    status, body = request_batch(uploads, files)
    assert status == 400 and body["error"]["code"] == "bad_request"


def test_completions_answer_each_file(aws: Aws, uploads: Any) -> None:
    a, b = jpeg(), png()
    _, body = request_batch(
        uploads,
        [describe(a), describe(b, "b.png", "image/png", checksum=False), describe(jpeg((10, 10)), checksum=False)],
    )
    ids = [i["ticket"]["fileId"] for i in body["items"]]
    post(body["items"][0]["ticket"], a)
    post(body["items"][1]["ticket"], jpeg())  # not the declared PNG, nor its size
    _, bobs = request_batch(uploads, [describe(b, "b.png", "image/png")], BOB)
    bobs_id = bobs["items"][0]["ticket"]["fileId"]

    status, done = complete_batch(uploads, [ids[0], ids[1], ids[2], ids[0], "nope", bobs_id, 7])

    assert status == 400  # 7 is not a file id: the whole body is malformed
    status, done = complete_batch(uploads, [ids[0], ids[1], ids[2], ids[0], "nope", bobs_id])
    assert status == 200
    assert [i["status"] for i in done["items"]] == [200, 422, 409, 400, 404, 404]
    assert [i["fileId"] for i in done["items"]] == [ids[0], ids[1], ids[2], ids[0], "nope", bobs_id]
    assert done["items"][1]["error"]["code"] == "unprocessable"
    assert done["items"][3]["error"]["details"] == {"sameAs": 0}
    assert aws.item("T#shop-a#U#bob", f"FILE#{bobs_id}")["status"] == "pending"


def test_another_tenant_completes_nothing(aws: Aws, uploads: Any) -> None:
    data = jpeg()
    _, body = request_batch(uploads, [describe(data)])
    ticket = body["items"][0]["ticket"]
    post(ticket, data)

    status, done = complete_batch(uploads, [ticket["fileId"]], MALLORY)

    assert status == 200 and done["items"][0]["status"] == 404
    assert aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")["status"] == "pending"


def test_a_wrong_checksum_is_refused_and_nothing_is_stored(aws: Aws, uploads: Any) -> None:
    data = jpeg()
    declared = {**describe(data), "sha256": sha256(b"other bytes")}
    _, body = request_batch(uploads, [declared])
    ticket = body["items"][0]["ticket"]
    post(ticket, data)  # moto does not check the POST's x-amz-checksum-sha256; S3 and SeaweedFS answer 400

    _, done = complete_batch(uploads, [ticket["fileId"]])

    assert done["items"][0]["status"] == 422
    assert done["items"][0]["error"]["code"] == "checksum_mismatch"
    key = f"shop-a/alice/{ticket['fileId']}"
    assert not aws.object_exists(key)
    assert aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")["status"] == "pending"


def _available(uploads: Any, data: bytes, principal: Principal = ALICE) -> dict[str, Any]:
    _, body = request_batch(uploads, [describe(data)], principal)
    ticket = body["items"][0]["ticket"]
    assert post(ticket, data) == 204
    _, done = complete_batch(uploads, [ticket["fileId"]], principal)
    assert done["items"][0]["status"] == 200
    return done["items"][0]["file"]


def test_bytes_the_user_already_has_are_answered_without_an_upload(aws: Aws, uploads: Any) -> None:
    data = jpeg()
    first = _available(uploads, data)
    aws.requests.reset()

    status, body = request_batch(uploads, [describe(data), describe(png(), "n.png", "image/png")], ALICE_LATER)

    assert status == 200 and body["duplicates"] == 1
    duplicate = body["items"][0]
    assert duplicate["status"] == 200
    assert duplicate["ticket"]["duplicate"] is True and duplicate["ticket"]["upload"] is None
    assert duplicate["ticket"]["fileId"] == first["fileId"]
    assert duplicate["ticket"]["file"]["status"] == "available"
    assert body["items"][1]["status"] == 201
    # The file now belongs to the new session too: its old session's logout leaves it.
    item = aws.item("T#shop-a#U#alice", f"FILE#{first['fileId']}")
    assert item["sessionId"] == "s2" and item["ttl"] > item["expiresAt"]
    # The single route answers the same way.
    status, single = call(uploads, api_event("POST", "/uploads", principal=ALICE, body=describe(data)))
    assert status == 200 and single["duplicate"] is True and single["fileId"] == first["fileId"]


def test_duplicates_are_per_user(aws: Aws, uploads: Any) -> None:
    data = jpeg()
    _available(uploads, data)

    for other in (BOB, MALLORY):
        _, body = request_batch(uploads, [describe(data)], other)
        assert body["items"][0]["status"] == 201 and body["items"][0]["ticket"]["upload"] is not None


def test_a_deleted_file_is_no_duplicate(aws: Aws, uploads: Any, files: Any) -> None:
    data = jpeg()
    first = _available(uploads, data)
    status, _ = call(
        files, api_event("DELETE", "/files/{fileId}", principal=ALICE, path_params={"fileId": first["fileId"]})
    )
    assert status == 204

    _, body = request_batch(uploads, [describe(data)])

    assert body["items"][0]["status"] == 201


def test_the_single_route_takes_a_checksum_too(aws: Aws, uploads: Any) -> None:
    data = jpeg()
    status, ticket = call(uploads, api_event("POST", "/uploads", principal=ALICE, body=describe(data)))
    assert status == 201 and ticket["duplicate"] is False
    assert ticket["upload"]["fields"]["x-amz-checksum-sha256"] == sha256(data)
    status, _ = call(
        uploads, api_event("POST", "/uploads", principal=ALICE, body={**describe(data), "sha256": "A" * 44})
    )
    assert status == 400


def test_a_file_uploaded_without_a_checksum_answers_a_later_duplicate(aws: Aws, uploads: Any) -> None:
    """S3 computes the completion copy's SHA-256 (moto too): the file keeps it, so bytes uploaded
    without a declared sha256 are found when the same user later declares it. Other users still upload."""
    data = jpeg((41, 31))
    _, body = request_batch(uploads, [describe(data, checksum=False)])
    ticket = body["items"][0]["ticket"]
    assert "x-amz-checksum-sha256" not in ticket["upload"]["fields"]
    assert post(ticket, data) == 204
    _, done = complete_batch(uploads, [ticket["fileId"]])
    assert done["items"][0]["status"] == 200
    assert aws.item("T#shop-a#U#alice", f"FILE#{ticket['fileId']}")["sha256"] == sha256(data)

    _, again = request_batch(uploads, [describe(data)], ALICE_LATER)
    assert again["duplicates"] == 1 and again["items"][0]["ticket"]["fileId"] == ticket["fileId"]
    _, other = request_batch(uploads, [describe(data)], BOB)
    assert other["items"][0]["status"] == 201
