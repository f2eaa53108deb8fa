"""Idempotency-Key on the POSTs that create something, in-process against moto: a retry replays the
first answer and creates nothing more, another body is a 422, a second request while the first runs is
a 409, keys are per tenant and user, failures release the key, records last a day."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from imagestore import errors
from imagestore.auth import Principal
from tests.conftest import Aws
from tests.support.events import LambdaContext, api_event
from tests.support.files import stored_file

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s2")
OTHER_TENANT = Principal("shop-b", "alice", "s1")
KEY = "3f6c2d1e-retry-me"


def send(
    handler: Any,
    method: str,
    resource: str,
    *,
    key: str | None = KEY,
    principal: Principal = ALICE,
    body: Any = None,
    path_params: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> tuple[int, Any, dict[str, str]]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    event = api_event(
        method, resource, principal=principal, body=body, path_params=path_params, headers=headers, raw_body=raw_body
    )
    response = handler(event, LambdaContext())
    flat = {k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}
    flat.update(response.get("headers") or {})
    text = response.get("body")
    return response["statusCode"], (json.loads(text) if text else None), flat


def project_body(file_ids: list[str], name: str = "Summer") -> dict[str, Any]:
    return {"name": name, "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}


def project_count(projects: Any, principal: Principal = ALICE) -> int:
    status, page, _ = send(projects, "GET", "/projects", key=None, principal=principal)
    assert status == 200, page
    return len(page["items"])


@pytest.fixture
def uploads(aws: Aws) -> Any:
    from file_service.handlers.uploads import handler

    return handler


@pytest.fixture
def mobile(aws: Aws) -> Any:
    from file_service.handlers.mobile_uploads import handler

    return handler


def test_a_retried_create_replays_the_first_answer_and_creates_nothing_more(aws: Aws, projects: Any) -> None:
    f = stored_file(ALICE)
    status, first, headers = send(projects, "POST", "/projects", body=project_body([f.file_id]))
    assert status == 201 and "Idempotent-Replayed" not in headers

    # the same body with other key order and spacing is the same request
    raw = json.dumps(dict(reversed(list(project_body([f.file_id]).items()))), indent=2)
    status, again, headers = send(projects, "POST", "/projects", raw_body=raw)

    assert status == 201
    assert again == first
    assert headers["Idempotent-Replayed"] == "true"
    assert headers["Content-Type"].startswith("application/json")
    assert project_count(projects) == 1
    assert int(aws.item("T#shop-a#U#alice", f"FILE#{f.file_id}")["holdCount"]) == 1


def test_the_same_key_with_another_body_is_a_422_and_changes_nothing(projects: Any) -> None:
    f = stored_file(ALICE)
    assert send(projects, "POST", "/projects", body=project_body([f.file_id]))[0] == 201

    status, body, _ = send(projects, "POST", "/projects", body=project_body([f.file_id], name="Winter"))

    assert status == 422
    assert body["error"]["code"] == "idempotency_key_reused"
    assert project_count(projects) == 1


def test_the_same_key_on_another_route_is_another_request(projects: Any, carts: Any) -> None:
    f = stored_file(ALICE)
    status, project, _ = send(projects, "POST", "/projects", body=project_body([f.file_id]))
    assert status == 201

    status, body, _ = send(
        carts, "POST", "/cart-items", body={"projectId": project["projectId"], "productSku": "BOOK", "quantity": 1}
    )

    assert status == 422 and body["error"]["code"] == "idempotency_key_reused"


def test_keys_are_per_user_and_tenant(projects: Any) -> None:
    mine, bobs, theirs = stored_file(ALICE), stored_file(BOB), stored_file(OTHER_TENANT)
    _, first, _ = send(projects, "POST", "/projects", body=project_body([mine.file_id]))

    for caller, f in ((BOB, bobs), (OTHER_TENANT, theirs)):
        status, created, headers = send(projects, "POST", "/projects", principal=caller, body=project_body([f.file_id]))
        assert status == 201 and "Idempotent-Replayed" not in headers
        assert created["projectId"] != first["projectId"]
        assert project_count(projects, caller) == 1
    # Bob sending exactly Alice's request meets his own record (another body), never Alice's answer
    status, body, _ = send(projects, "POST", "/projects", principal=BOB, body=project_body([mine.file_id]))
    assert status == 422 and body["error"]["code"] == "idempotency_key_reused"


def test_a_second_request_while_the_first_runs_is_told_to_retry_then_gets_the_replay(
    monkeypatch: pytest.MonkeyPatch, projects: Any
) -> None:
    from project_service.logic import projects as logic

    f = stored_file(ALICE)
    real = logic.create_project
    during: list[tuple[int, Any, dict[str, str]]] = []

    def create_while_a_retry_arrives(*args: Any, **kwargs: Any) -> Any:
        during.append(send(projects, "POST", "/projects", body=project_body([f.file_id])))
        return real(*args, **kwargs)

    monkeypatch.setattr(logic, "create_project", create_while_a_retry_arrives)
    status, first, _ = send(projects, "POST", "/projects", body=project_body([f.file_id]))
    monkeypatch.setattr(logic, "create_project", real)

    assert status == 201
    ((status, body, headers),) = during
    assert status == 409 and body["error"]["code"] == "idempotency_key_in_use"
    assert headers["Retry-After"] == "1"
    status, again, headers = send(projects, "POST", "/projects", body=project_body([f.file_id]))
    assert (status, again, headers["Idempotent-Replayed"]) == (201, first, "true")
    assert project_count(projects) == 1


def test_a_failed_request_releases_the_key_for_its_retry(monkeypatch: pytest.MonkeyPatch, projects: Any) -> None:
    from project_service.logic import projects as logic

    f = stored_file(ALICE)
    real = logic.create_project

    def throttled(*args: Any, **kwargs: Any) -> Any:
        raise errors.Throttled("the table is busy; retry")

    monkeypatch.setattr(logic, "create_project", throttled)
    assert send(projects, "POST", "/projects", body=project_body([f.file_id]))[0] == 429
    monkeypatch.setattr(logic, "create_project", real)

    status, _, headers = send(projects, "POST", "/projects", body=project_body([f.file_id]))

    assert status == 201 and "Idempotent-Replayed" not in headers
    assert project_count(projects) == 1


def test_a_key_is_remembered_for_a_day(monkeypatch: pytest.MonkeyPatch, projects: Any) -> None:
    f = stored_file(ALICE)
    _, first, _ = send(projects, "POST", "/projects", body=project_body([f.file_id]))
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(86_400 - 60))
    assert send(projects, "POST", "/projects", body=project_body([f.file_id]))[1] == first

    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(86_400 + 1))
    status, later, headers = send(projects, "POST", "/projects", body=project_body([f.file_id]))

    assert status == 201 and later["projectId"] != first["projectId"] and "Idempotent-Replayed" not in headers


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "ключ"])
def test_a_malformed_key_is_a_400(projects: Any, key: str) -> None:
    f = stored_file(ALICE)
    status, body, _ = send(projects, "POST", "/projects", key=key, body=project_body([f.file_id]))
    assert status == 400 and "Idempotency-Key" in body["error"]["message"]
    assert project_count(projects) == 0


def test_without_a_key_every_post_creates(projects: Any) -> None:
    f = stored_file(ALICE)
    for _ in range(2):
        assert send(projects, "POST", "/projects", key=None, body=project_body([f.file_id]))[0] == 201
    assert project_count(projects) == 2


def _creates(
    projects: Any, shares: Any, carts: Any, orders: Any, uploads: Any, mobile: Any
) -> dict[str, Callable[[str], tuple[int, Any, dict[str, str]]]]:
    """One create request per POST route that creates something, each with the same key."""
    f = stored_file(ALICE)
    _, project, _ = send(projects, "POST", "/projects", key=None, body=project_body([f.file_id]))
    pid = {"projectId": project["projectId"]}
    _, copyable, _ = send(
        shares,
        "POST",
        "/projects/{projectId}/shares",
        key=None,
        path_params=pid,
        body={"mode": "copy", "expiresInDays": 7},
    )
    cart_body = {"projectId": project["projectId"], "productSku": "BOOK", "quantity": 1}
    _, item, _ = send(carts, "POST", "/cart-items", key=None, body=cart_body)
    _, order, _ = send(
        orders, "POST", "/orders", key=None, body={"cartItemIds": [item["cartItemId"]], "externalOrderRef": "ref-0"}
    )
    _, second_item, _ = send(carts, "POST", "/cart-items", key=None, body=cart_body)
    return {
        "POST /uploads": lambda key: send(
            uploads,
            "POST",
            "/uploads",
            key=key,
            body={"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 100},
        ),
        "POST /upload-batches": lambda key: send(
            uploads,
            "POST",
            "/upload-batches",
            key=key,
            body={"files": [{"filename": "b.jpg", "contentType": "image/jpeg", "sizeBytes": 100}]},
        ),
        "POST /multipart-uploads": lambda key: send(
            uploads,
            "POST",
            "/multipart-uploads",
            key=key,
            body={"filename": "big.jpg", "contentType": "image/jpeg", "sizeBytes": 12_000_000},
        ),
        "POST /projects": lambda key: send(projects, "POST", "/projects", key=key, body=project_body([f.file_id])),
        "POST /projects/{id}/shares": lambda key: send(
            shares,
            "POST",
            "/projects/{projectId}/shares",
            key=key,
            path_params=pid,
            body={"mode": "view", "expiresInDays": 7},
        ),
        "POST /shares/{token}/copies": lambda key: send(
            shares, "POST", "/shares/{token}/copies", key=key, principal=BOB, path_params={"token": copyable["token"]}
        ),
        "POST /cart-items": lambda key: send(carts, "POST", "/cart-items", key=key, body=cart_body),
        "POST /orders": lambda key: send(
            orders,
            "POST",
            "/orders",
            key=key,
            body={"cartItemIds": [second_item["cartItemId"]], "externalOrderRef": "ref-1"},
        ),
        "POST /orders/{id}/resubmissions": lambda key: send(
            orders, "POST", "/orders/{orderId}/resubmissions", key=key, path_params={"orderId": order["orderId"]}
        ),
        "POST /mobile-uploads": lambda key: send(
            mobile, "POST", "/mobile-uploads", key=key, body={"retention": "session"}
        ),
    }


ID_FIELD = {
    "POST /uploads": "fileId",
    "POST /upload-batches": "items",
    "POST /multipart-uploads": "fileId",
    "POST /projects": "projectId",
    "POST /projects/{id}/shares": "shareId",
    "POST /shares/{token}/copies": "projectId",
    "POST /cart-items": "cartItemId",
    "POST /orders": "orderId",
    "POST /orders/{id}/resubmissions": "resubmissionId",
    "POST /mobile-uploads": "mobileUploadId",
}


def test_every_create_route_replays_with_a_key(
    projects: Any, shares: Any, carts: Any, orders: Any, uploads: Any, mobile: Any
) -> None:
    routes = _creates(projects, shares, carts, orders, uploads, mobile)
    assert set(routes) == set(ID_FIELD)
    for name, create in routes.items():
        status, first, _ = create(f"key of {name}")
        assert status in (200, 201, 202) and first[ID_FIELD[name]], (name, first)
        again_status, again, again_headers = create(f"key of {name}")
        assert (again_status, again) == (status, first), name
        assert again_headers.get("Idempotent-Replayed") == "true", name
        other_status, other, _ = create(f"another key of {name}")
        if name != "POST /orders":  # an order reference places one order whatever the key
            assert other_status in (200, 201, 202) and other[ID_FIELD[name]] != first[ID_FIELD[name]], name
    # h26's batch and multipart routes: a retried batch is the same files, not a second set
    assert (
        routes["POST /upload-batches"]("key of POST /upload-batches")[1]["items"]
        == routes["POST /upload-batches"]("key of POST /upload-batches")[1]["items"]
    )
