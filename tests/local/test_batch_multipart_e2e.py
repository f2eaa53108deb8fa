"""Batches, multipart resume and SHA-256 checksums end to end through the local stack and its S3
(SeaweedFS), driven by the operationIds of the served /openapi.json: SeaweedFS itself refuses bytes
whose x-amz-checksum-sha256 differs (POST and parts) and parts of another size than signed."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.stack import StackHandle, running_stack
from tests.support.images import jpeg, large_jpeg

pytestmark = pytest.mark.e2e

PART = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with running_stack(tmp_path_factory.mktemp("multipart") / "data") as handle:
        yield handle


@pytest.fixture(scope="module")
def api(stack: StackHandle) -> Any:
    """Call an operation by its operationId, as the document names its method and path."""
    document = requests.get(f"{stack.base_url}/openapi.json", timeout=30).json()
    operations = {
        op["operationId"]: (method.upper(), path)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }
    headers = {"Authorization": f"Bearer {stack.mint_token('t1', 'mp-user')}"}

    def call(operation_id: str, body: Any = None, **path: str) -> requests.Response:
        method, template = operations[operation_id]
        return requests.request(
            method, stack.base_url + template.format(**path), json=body, headers=headers, timeout=60
        )

    return call


def sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_batch_of_tickets_with_a_wrong_checksum_is_refused_by_the_store(api: Any) -> None:
    good, bad = jpeg((30, 20)), jpeg((31, 20))
    files = [
        {"filename": f"p{n}.jpg", "contentType": "image/jpeg", "sizeBytes": len(d), "sha256": sha256(d)}
        for n, d in enumerate((good, bad))
    ]
    answer = api("requestUploads", {"files": files})
    assert answer.status_code == 200, answer.text
    tickets = [i["ticket"] for i in answer.json()["items"]]

    sent = []
    for ticket, data in ((tickets[0], good), (tickets[1], good)):  # the second sends other bytes than declared
        upload = ticket["upload"]
        sent.append(requests.post(upload["url"], data=upload["fields"], files={"file": ("f", data)}, timeout=60))

    assert sent[0].status_code == 204
    assert sent[1].status_code == 400 and "BadDigest" in sent[1].text
    done = api("completeUploads", {"fileIds": [t["fileId"] for t in tickets]}).json()
    assert [i["status"] for i in done["items"]] == [200, 409]  # nothing was stored for the second
    assert done["items"][0]["file"]["status"] == "available"


def test_a_cut_multipart_upload_resumes_with_only_the_missing_part(api: Any, stack: StackHandle) -> None:
    data = large_jpeg(2 * PART + 5000)
    created = api(
        "createMultipartUpload",
        {
            "filename": "big.jpg",
            "contentType": "image/jpeg",
            "sizeBytes": len(data),
            "partSizeBytes": PART,
            "sha256": sha256(data),
        },
    )
    assert created.status_code == 201, created.text
    file_id = created.json()["fileId"]
    parts = [{"partNumber": n, "sha256": sha256(data[(n - 1) * PART : n * PART])} for n in (1, 2, 3)]
    signed = api("signMultipartParts", {"parts": parts}, fileId=file_id).json()["parts"]

    def put(part: dict[str, Any], body: bytes) -> requests.Response:
        return requests.put(part["url"], data=body, headers=part["headers"], timeout=60)

    assert put(signed[0], data[:PART]).status_code == 200
    # A part of other bytes (same size) is refused by its checksum; one longer than signed by its signature.
    assert put(signed[1], bytes(PART)).status_code == 400
    assert put(signed[2], data[2 * PART :] + b"x").status_code == 403
    assert put(signed[2], data[2 * PART :]).status_code == 200
    # The cut: part 2 never arrived. The client lists the parts and sends only that one.
    listed = api("listMultipartParts", fileId=file_id).json()
    assert listed["missingPartNumbers"] == [2]
    assert api("completeMultipartUpload", fileId=file_id).status_code == 409
    again = api("signMultipartParts", {"parts": [parts[1]]}, fileId=file_id).json()["parts"]
    assert put(again[0], data[PART : 2 * PART]).status_code == 200

    out_of_order = api(
        "completeMultipartUpload", {"parts": [{"partNumber": 2}, {"partNumber": 1}, {"partNumber": 3}]}, fileId=file_id
    )
    assert out_of_order.status_code == 400
    done = api("completeMultipartUpload", fileId=file_id)

    assert done.status_code == 200, done.text
    assert done.json()["status"] == "available"
    file = api("getFile", fileId=file_id).json()
    assert requests.get(file["downloadUrl"], timeout=60).content == data


def test_malformed_batches_are_4xx(api: Any) -> None:
    one = {"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10}
    assert api("requestUploads", {"files": [one] * 101}).status_code == 400
    mixed = api("requestUploads", {"files": [one, {"filename": ""}, 3]})
    assert mixed.status_code == 200 and [i["status"] for i in mixed.json()["items"]] == [201, 400, 400]
    assert api("completeUploads", {"fileIds": ["x"] * 101}).status_code == 400
    repeated = api("completeUploads", {"fileIds": ["x", "x"]})
    assert repeated.status_code == 200 and [i["status"] for i in repeated.json()["items"]] == [404, 400]
