"""Multipart uploads with presigned parts and resume, in-process against moto."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
import requests

from imagestore.auth import Principal
from tests.conftest import BUCKET, Aws
from tests.support.events import api_event, call
from tests.support.images import large_jpeg

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s9")
MALLORY = Principal("shop-b", "alice", "s1")
PART = 5 * 1024 * 1024


@pytest.fixture
def uploads(aws: Aws) -> Any:
    from file_service.handlers.uploads import handler

    return handler


@pytest.fixture(scope="module")
def big() -> bytes:
    return large_jpeg(2 * PART + 1000)  # three parts: 5 MiB, 5 MiB, the rest


def sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def create(
    handler: Any, data: bytes, principal: Principal = ALICE, checksum: bool = True, **extra: Any
) -> tuple[int, Any]:
    body = {
        "filename": "big.jpg",
        "contentType": "image/jpeg",
        "sizeBytes": len(data),
        "partSizeBytes": PART,
        **({"sha256": sha256(data)} if checksum else {}),
        **extra,
    }
    return call(handler, api_event("POST", "/multipart-uploads", principal=principal, body=body))


def op(
    handler: Any, method: str, path: str, file_id: str, principal: Principal = ALICE, body: Any = None
) -> tuple[int, Any]:
    return call(
        handler,
        api_event(
            method,
            f"/multipart-uploads/{{fileId}}{path}",
            principal=principal,
            path_params={"fileId": file_id},
            body=body,
        ),
    )


def part_of(data: bytes, number: int) -> bytes:
    return data[(number - 1) * PART : number * PART]


def sign(handler: Any, file_id: str, data: bytes, numbers: list[int], checksum: bool = True) -> tuple[int, Any]:
    parts = [{"partNumber": n, **({"sha256": sha256(part_of(data, n))} if checksum else {})} for n in numbers]
    return op(handler, "POST", "/parts", file_id, body={"parts": parts})


def send(signed: dict[str, Any], data: bytes) -> None:
    for part in signed["parts"]:
        body = part_of(data, part["partNumber"])
        assert len(body) == part["sizeBytes"]
        response = requests.put(part["url"], data=body, headers=part["headers"], timeout=30)
        assert response.status_code == 200, response.text


def test_a_cut_upload_resumes_with_only_the_missing_parts(aws: Aws, uploads: Any, big: bytes, files: Any) -> None:
    status, ticket = create(uploads, big)
    assert status == 201
    assert (ticket["partSizeBytes"], ticket["partCount"], ticket["checksum"]) == (PART, 3, True)
    file_id = ticket["fileId"]
    status, signed = sign(uploads, file_id, big, [1, 2, 3])
    assert status == 200 and [p["sizeBytes"] for p in signed["parts"]] == [PART, PART, len(big) - 2 * PART]
    assert signed["parts"][0]["headers"]["x-amz-checksum-sha256"] == sha256(part_of(big, 1))
    send({"parts": [signed["parts"][0], signed["parts"][2]]}, big)  # part 2 is lost in the cut

    status, early = op(uploads, "POST", "/complete", file_id)
    assert status == 409 and early["error"]["details"]["missingPartNumbers"] == [2]
    status, listed = op(uploads, "GET", "/parts", file_id)
    assert status == 200
    assert listed["missingPartNumbers"] == [2] and [p["partNumber"] for p in listed["parts"]] == [1, 3]

    _, again = sign(uploads, file_id, big, listed["missingPartNumbers"])
    send(again, big)
    status, done = op(uploads, "POST", "/complete", file_id, body={"parts": [{"partNumber": n} for n in (1, 2, 3)]})

    assert status == 200, done
    assert done["status"] == "available" and done["sizeBytes"] == len(big)
    assert aws.s3.get_object(Bucket=BUCKET, Key=f"shop-a/alice/{file_id}")["Body"].read() == big
    assert not aws.object_exists(f"shop-a/alice/{file_id}.upload")
    assert aws.item("T#shop-a#U#alice", f"FILE#{file_id}")["sha256"] == sha256(big)
    assert op(uploads, "POST", "/complete", file_id)[0] == 200  # idempotent
    status, after = op(uploads, "GET", "/parts", file_id)
    assert status == 200 and after["status"] == "available" and after["missingPartNumbers"] == []


def test_a_whole_file_of_other_bytes_is_refused_and_nothing_is_stored(aws: Aws, uploads: Any, big: bytes) -> None:
    other = bytearray(big)
    other[PART + 10] ^= 0xFF  # part 2 differs; each part is sent with its own (right) sha256
    _, ticket = create(uploads, big)
    file_id = ticket["fileId"]
    _, signed = sign(uploads, file_id, bytes(other), [1, 2, 3])
    send(signed, bytes(other))

    status, body = op(uploads, "POST", "/complete", file_id)

    assert status == 422 and body["error"]["code"] == "checksum_mismatch"
    assert not aws.object_exists(f"shop-a/alice/{file_id}")
    assert aws.item("T#shop-a#U#alice", f"FILE#{file_id}")["status"] == "pending"


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ([{"partNumber": 2}, {"partNumber": 1}, {"partNumber": 3}], "ascending"),
        ([{"partNumber": 1}, {"partNumber": 1}, {"partNumber": 3}], "ascending"),
        ([{"partNumber": 1}, {"partNumber": 2}], "1..3"),
        ([{"partNumber": 0}], "bad_request"),
    ],
)
def test_a_malformed_part_list_is_a_400(uploads: Any, big: bytes, parts: Any, reason: str) -> None:
    _, ticket = create(uploads, big, checksum=False)

    status, body = op(uploads, "POST", "/complete", ticket["fileId"], body={"parts": parts})

    assert status == 400 and reason in str(body)


@pytest.mark.parametrize(
    ("parts", "status"),
    [
        ([{"partNumber": 4}], 400),
        ([{"partNumber": 1}, {"partNumber": 1}], 400),
        ([{"partNumber": n} for n in range(1, 102)], 400),
        ([], 400),
        ([{"partNumber": 1, "sha256": "x"}], 400),
    ],
)
def test_signing_parts_outside_the_file_is_a_400(uploads: Any, big: bytes, parts: Any, status: int) -> None:
    _, ticket = create(uploads, big, checksum=False)
    assert op(uploads, "POST", "/parts", ticket["fileId"], body={"parts": parts})[0] == status


def test_a_checksummed_upload_needs_every_parts_sha256(uploads: Any, big: bytes) -> None:
    _, ticket = create(uploads, big)
    status, body = sign(uploads, ticket["fileId"], big, [1], checksum=False)
    assert status == 400 and "sha256" in body["error"]["message"]


def test_declared_limits_hold(uploads: Any, big: bytes) -> None:
    assert create(uploads, big, contentType="application/pdf")[0] == 415
    assert create(uploads, big, sizeBytes=10**12)[0] == 413
    assert create(uploads, big, partSizeBytes=1000)[0] == 400


def test_other_users_and_tenants_see_nothing(aws: Aws, uploads: Any, big: bytes) -> None:
    _, ticket = create(uploads, big)
    file_id = ticket["fileId"]
    for other in (BOB, MALLORY):
        assert sign(uploads, file_id, big, [1])[0] == 200
        assert op(uploads, "POST", "/parts", file_id, other, body={"parts": [{"partNumber": 1}]})[0] == 404
        assert op(uploads, "GET", "/parts", file_id, other)[0] == 404
        assert op(uploads, "POST", "/complete", file_id, other)[0] == 404
        assert op(uploads, "DELETE", "", file_id, other)[0] == 404
    assert op(uploads, "GET", "/parts", "not-an-id")[0] == 404


def test_abort_frees_the_parts_and_forgets_the_file(aws: Aws, uploads: Any, big: bytes) -> None:
    _, ticket = create(uploads, big)
    file_id = ticket["fileId"]
    _, signed = sign(uploads, file_id, big, [1])
    send(signed, big)

    assert op(uploads, "DELETE", "", file_id)[0] == 204

    assert aws.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert aws.item("T#shop-a#U#alice", f"FILE#{file_id}") is None
    assert op(uploads, "GET", "/parts", file_id)[0] == 404


def test_a_single_ticket_is_not_a_multipart_upload(uploads: Any) -> None:
    body = {"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 100}
    _, ticket = call(uploads, api_event("POST", "/uploads", principal=ALICE, body=body))
    status, answer = op(uploads, "GET", "/parts", ticket["fileId"])
    assert status == 409 and "not a multipart upload" in answer["error"]["message"]
