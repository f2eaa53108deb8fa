"""Issue 24: no answer may exceed Lambda's 6 MB response limit (API Gateway answers 502 then) for any
input the API accepts. Each route that lists a project's files or documents is called with the worst
case at the documented limits, and the whole proxy response the function returns is measured."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagestore.auth import Principal
from project_service.models import FILES_PAGE_SIZE, MAX_DOCUMENT_BYTES, MAX_FILES_PER_PROJECT
from tests.conftest import Aws
from tests.support.events import LambdaContext, api_event
from tests.support.files import stored_files

ALICE = Principal("shop-a", "alice", "s1")
LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024
# What makes a file entry large: 255 characters (the filename limit) of an emoji, 12 bytes each in the
# answer's JSON and 20 in its download URL (percent-encoded in the disposition, then again in the URL).
WORST_FILENAME = "\U0001f4f7" * 251 + ".jpg"
# A function's presigned URLs carry its role's session token (about 1 KB in Lambda): one as long.
SESSION_TOKEN = "IQoJb3JpZ2luX2VjE" + "A" * 1400


@pytest.fixture
def lambda_credentials(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from imagestore.data.clients import reset_clients

    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    reset_clients()


def invoke(handler: Any, event: dict[str, Any]) -> tuple[int, Any, int]:
    """(status, body, bytes of the whole response the function returns to Lambda)."""
    response = handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"]), len(json.dumps(response).encode())


def largest_document(fill: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    return {"pages": "x" * (fill - len('{"pages":""}'))}


def all_pages(handler: Any, event: dict[str, Any], files_of: Any) -> tuple[list[str], list[int]]:
    """The file ids of every page of a view (following filesNextCursor) and each answer's size."""
    ids: list[str] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(1 + MAX_FILES_PER_PROJECT * 25 // FILES_PAGE_SIZE):
        paged = {**event, "queryStringParameters": {"filesCursor": cursor} if cursor else None}
        status, body, size = invoke(handler, paged)
        assert status == 200, body
        ids += [f["fileId"] for f in files_of(body)]
        sizes.append(size)
        cursor = body.get("filesNextCursor") or body.get("project", {}).get("filesNextCursor")
        if cursor is None:
            return ids, sizes
    raise AssertionError("the pages never ended")


@pytest.mark.slow  # minutes in moto: make test runs it, make test-fast does not
def test_a_project_of_2000_files_with_the_longest_names_fits_every_answer(
    lambda_credentials: None, aws: Aws, projects: Any, shares: Any
) -> None:
    files = [f.file_id for f in stored_files(ALICE, MAX_FILES_PER_PROJECT, filename=WORST_FILENAME)]
    body = {"name": "Book", "productType": "photobook", "document": largest_document(), "fileIds": files}
    status, created, size = invoke(projects, api_event("POST", "/projects", principal=ALICE, body=body))
    assert status == 201, created
    assert size < LAMBDA_RESPONSE_BYTES  # was about 14 MB: 2,000 entries of 6.8 KB and more
    assert len(created["files"]) == FILES_PAGE_SIZE and created["filesNextCursor"]
    assert SESSION_TOKEN in created["files"][0]["downloadUrl"]
    project_id = created["projectId"]

    status, _, size = invoke(
        projects,
        api_event(
            "PUT",
            "/projects/{projectId}",
            principal=ALICE,
            body=body,
            path_params={"projectId": project_id},
            headers={"If-Match": "1"},
        ),
    )
    assert status == 200 and size < LAMBDA_RESPONSE_BYTES

    shown = api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": project_id})
    ids, sizes = all_pages(projects, shown, lambda view: view["files"])
    assert ids == files and max(sizes) < LAMBDA_RESPONSE_BYTES

    status, share, _ = invoke(
        shares,
        api_event(
            "POST",
            "/projects/{projectId}/shares",
            principal=ALICE,
            body={"mode": "view"},
            path_params={"projectId": project_id},
        ),
    )
    assert status == 201, share
    viewed = api_event("GET", "/shares/{token}", principal=ALICE, path_params={"token": share["token"]})
    ids, sizes = all_pages(shares, viewed, lambda view: view["project"]["files"])
    assert ids == files and max(sizes) < LAMBDA_RESPONSE_BYTES


def test_a_files_cursor_of_another_version_is_409_and_a_forged_one_400(aws: Aws, projects: Any) -> None:
    files = [f.file_id for f in stored_files(ALICE, FILES_PAGE_SIZE + 1)]
    body = {"name": "Book", "productType": "photobook", "document": {}, "fileIds": files}
    status, created, _ = invoke(projects, api_event("POST", "/projects", principal=ALICE, body=body))
    cursor = created["filesNextCursor"]
    project_id = created["projectId"]
    path = {"projectId": project_id}
    status, page, _ = invoke(
        projects,
        api_event("GET", "/projects/{projectId}", principal=ALICE, path_params=path, query={"filesCursor": cursor}),
    )
    assert status == 200 and [f["fileId"] for f in page["files"]] == files[-1:] and page["filesNextCursor"] is None
    invoke(
        projects,
        api_event(
            "PUT", "/projects/{projectId}", principal=ALICE, body=body, path_params=path, headers={"If-Match": "1"}
        ),
    )
    status, refused, _ = invoke(
        projects,
        api_event("GET", "/projects/{projectId}", principal=ALICE, path_params=path, query={"filesCursor": cursor}),
    )
    assert status == 409 and refused["error"]["details"] == {"currentVersion": 2}
    for forged in ("MS4wMDAw", "bm9wZQ", "x" * 41, "MS4yMDE", "Mi4w"):  # 1.0000, nope, long, past the end, 0
        status, refused, _ = invoke(
            projects,
            api_event("GET", "/projects/{projectId}", principal=ALICE, path_params=path, query={"filesCursor": forged}),
        )
        assert status == 400 and refused["error"]["code"] == "invalid_cursor", forged


@pytest.mark.slow  # minutes in moto: make test runs it, make test-fast does not
def test_an_order_of_projects_with_the_largest_documents_fits_every_answer(
    lambda_credentials: None, aws: Aws, projects: Any, carts: Any, orders: Any
) -> None:
    files = [f.file_id for f in stored_files(ALICE, 300, filename=WORST_FILENAME)]
    cart_items = []
    for n in range(7):  # 7 documents of 950 KB: 6.6 MB inline, the order used to answer 502
        body = {
            "name": f"Book {n}",
            "productType": "photobook",
            "document": largest_document(950_000),
            "fileIds": files,
        }
        status, project, _ = invoke(projects, api_event("POST", "/projects", principal=ALICE, body=body))
        assert status == 201, project
        status, item, _ = invoke(
            carts,
            api_event(
                "POST",
                "/cart-items",
                principal=ALICE,
                body={"productSku": "BOOK", "quantity": 1, "projectId": project["projectId"]},
            ),
        )
        assert status == 201, item
        cart_items.append(item["cartItemId"])
    place = api_event(
        "POST", "/orders", principal=ALICE, body={"cartItemIds": cart_items, "externalOrderRef": "shop-order-big"}
    )
    status, order, size = invoke(orders, place)
    assert status == 201 and size < LAMBDA_RESPONSE_BYTES
    assert [p["fileCount"] for p in order["projects"]] == [300] * 7
    assert all(p["documentUrl"] for p in order["projects"])
    status, again, size = invoke(orders, place)  # the idempotent repeat
    assert status == 200 and again["orderId"] == order["orderId"] and size < LAMBDA_RESPONSE_BYTES
    shown = api_event("GET", "/orders/{orderId}", principal=ALICE, path_params={"orderId": order["orderId"]})
    ids, sizes = all_pages(orders, shown, lambda view: [f for p in view["projects"] for f in p["files"]])
    assert ids == files * 7 and max(sizes) < LAMBDA_RESPONSE_BYTES
