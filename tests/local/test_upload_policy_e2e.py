"""The upload rules of the presigned POST, end to end through the local stack and its S3 (SeaweedFS):
exact key, declared size, pinned type, expiry and signature are enforced by the object store, as in AWS;
presigned downloads are signed and expire; S3's ObjectCreated event completes an upload on its own.
One stack for the module."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.e2e.stack import StackHandle
from tests.local.conftest import SHORT_URLS_TENANT
from tests.support.images import jpeg, png

pytestmark = pytest.mark.e2e

SHORT = SHORT_URLS_TENANT  # a tenant whose presigned URLs live 2 seconds


@pytest.fixture(scope="module")
def stack(shared_stack: StackHandle) -> StackHandle:
    """The worker's shared stack (tests/local/conftest.py), whose tenant settings give SHORT its 2-second URLs."""
    health = requests.get(f"{shared_stack.base_url}/_local/health", timeout=5).json()
    assert health["s3"] == "seaweedfs", health
    return shared_stack


def _headers(stack: StackHandle, tenant: str = "t1", user: str = "policy") -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.mint_token(tenant, user)}"}


def _ticket(stack: StackHandle, data: bytes, content_type: str = "image/png", tenant: str = "t1") -> dict[str, Any]:
    created = requests.post(
        f"{stack.base_url}/uploads",
        json={"filename": "p.png", "contentType": content_type, "sizeBytes": len(data)},
        headers=_headers(stack, tenant),
        timeout=60,
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


def _post(ticket: dict[str, Any], data: bytes, content_type: str | None = None, **fields: str) -> requests.Response:
    upload = ticket["upload"]
    form = {**upload["fields"], **fields}
    if content_type is not None:
        form["Content-Type"] = content_type
    return requests.post(
        upload["url"], data=form, files={"file": ("p", data, form.get("Content-Type", ""))}, timeout=60
    )


def _file(stack: StackHandle, ticket: dict[str, Any], tenant: str = "t1") -> dict[str, Any]:
    got = requests.get(f"{stack.base_url}/files/{ticket['fileId']}", headers=_headers(stack, tenant), timeout=60)
    assert got.status_code == 200, got.text
    return dict(got.json())


def _s3_error(response: requests.Response) -> str:
    return response.text.split("<Code>", 1)[-1].split("</Code>", 1)[0]


def _complete(stack: StackHandle, ticket: dict[str, Any], tenant: str = "t1") -> requests.Response:
    return requests.post(
        f"{stack.base_url}/uploads/{ticket['fileId']}/complete", headers=_headers(stack, tenant), timeout=60
    )


def _available_without_complete(stack: StackHandle, ticket: dict[str, Any], tenant: str = "t1") -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        current = _file(stack, ticket, tenant)
        if current["status"] != "pending" or time.monotonic() > deadline:
            return current
        time.sleep(0.2)


def test_the_object_created_event_completes_an_upload_without_the_complete_call(stack: StackHandle) -> None:
    data = png((40, 30))
    ticket = _ticket(stack, data)

    assert _post(ticket, data).status_code == 204

    available = _available_without_complete(stack, ticket)
    assert available["status"] == "available", available
    assert (available["width"], available["height"]) == (40, 30)
    assert requests.get(available["downloadUrl"], timeout=60).content == data
    again = _complete(stack, ticket)  # the client's complete after the event: the same file, 200
    assert again.status_code == 200 and again.json()["status"] == "available", again.text


def test_more_bytes_than_declared_are_refused_by_s3(stack: StackHandle) -> None:
    data = png()
    ticket = _ticket(stack, data)

    posted = _post(ticket, data + b"\0" * 10)

    assert posted.status_code == 400 and _s3_error(posted) == "EntityTooLarge", posted.text
    assert _file(stack, ticket)["status"] == "pending"
    refused = _complete(stack, ticket)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict", refused.text


def test_fewer_bytes_than_declared_are_refused_by_s3(stack: StackHandle) -> None:
    data = png()
    ticket = _ticket(stack, data)

    posted = _post(ticket, data[:-5])

    assert posted.status_code == 400 and _s3_error(posted) == "EntityTooSmall", posted.text


def test_another_key_is_refused_by_s3(stack: StackHandle) -> None:
    data = png()
    ticket = _ticket(stack, data)
    other = _ticket(stack, data)

    posted = _post(ticket, data, key=other["upload"]["fields"]["key"])

    assert posted.status_code == 403 and "Policy Condition failed" in posted.text, posted.text
    assert _file(stack, other)["status"] == "pending"


def test_another_content_type_is_refused_by_s3(stack: StackHandle) -> None:
    data = jpeg()
    ticket = _ticket(stack, data, content_type="image/jpeg")

    posted = _post(ticket, data, content_type="image/png")

    assert posted.status_code == 403 and "Policy Condition failed" in posted.text, posted.text


def test_a_tampered_signature_or_policy_is_refused_by_s3(stack: StackHandle) -> None:
    data = png()
    ticket = _ticket(stack, data)
    fields = ticket["upload"]["fields"]
    signature = fields["x-amz-signature"]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    other_policy = _ticket(stack, data + b"\0")["upload"]["fields"]["policy"]

    bad_signature = _post(ticket, data, **{"x-amz-signature": forged})
    bad_policy = _post(ticket, data + b"\0", policy=other_policy)

    assert bad_signature.status_code == 403 and _s3_error(bad_signature) == "SignatureDoesNotMatch"
    assert bad_policy.status_code == 403 and _s3_error(bad_policy) == "SignatureDoesNotMatch"
    assert _post(ticket, data).status_code == 204  # the untouched form still works


def test_an_expired_upload_form_is_refused_by_s3(stack: StackHandle) -> None:
    data = png()
    ticket = _ticket(stack, data, tenant=SHORT)

    time.sleep(3)  # the tenant's forms live 2 s
    posted = _post(ticket, data)

    assert posted.status_code == 403 and _s3_error(posted) == "AccessDenied", posted.text
    assert "expired" in posted.text.lower()


def test_presigned_downloads_are_signed_and_expire(stack: StackHandle) -> None:
    data = png((20, 20))
    ticket = _ticket(stack, data, tenant=SHORT)
    assert _post(ticket, data).status_code == 204
    assert _complete(stack, ticket, tenant=SHORT).status_code == 200
    url = _file(stack, ticket, tenant=SHORT)["downloadUrl"]
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0", 1)

    assert requests.get(url, timeout=60).content == data
    assert requests.get(tampered, timeout=60).status_code == 403
    time.sleep(3)
    expired = requests.get(url, timeout=60)
    assert expired.status_code == 403 and _s3_error(expired) == "AccessDenied", expired.text
