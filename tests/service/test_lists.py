"""The complete lists, in-process against moto: GET /orders, GET /projects/{projectId}/shares and
GET /mobile-uploads page through what the caller owns (newest first, or by id for shares), and nothing
of another user's or tenant's; a cursor never reaches another list."""

from __future__ import annotations

from typing import Any

import pytest

from imagestore.auth import Principal
from tests.conftest import Aws
from tests.support.events import api_event, call
from tests.support.files import stored_file

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s2")
OTHER_TENANT = Principal("shop-b", "alice", "s1")


@pytest.fixture
def mobile(aws: Aws) -> Any:
    from file_service.handlers.mobile_uploads import handler

    return handler


def pages(
    handler: Any, resource: str, principal: Principal = ALICE, limit: int = 1, path_params: dict[str, str] | None = None
) -> list[list[dict[str, Any]]]:
    """Every page of a list, `limit` items a page."""
    found, cursor = [], None
    for _ in range(20):
        query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        status, page = call(
            handler, api_event("GET", resource, principal=principal, query=query, path_params=path_params)
        )
        assert status == 200, page
        found.append(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return found
    raise AssertionError("the list did not end")


def project(projects: Any, principal: Principal = ALICE) -> str:
    f = stored_file(principal)
    body = {"name": "Book", "productType": "photobook", "document": {}, "fileIds": [f.file_id]}
    status, created = call(projects, api_event("POST", "/projects", principal=principal, body=body))
    assert status == 201, created
    return str(created["projectId"])


def order(projects: Any, carts: Any, orders: Any, ref: str, principal: Principal = ALICE) -> dict[str, Any]:
    body = {"projectId": project(projects, principal), "productSku": "BOOK", "quantity": 2}
    _, item = call(carts, api_event("POST", "/cart-items", principal=principal, body=body))
    status, placed = call(
        orders,
        api_event(
            "POST", "/orders", principal=principal, body={"cartItemIds": [item["cartItemId"]], "externalOrderRef": ref}
        ),
    )
    assert status == 201, placed
    return placed


def test_orders_are_listed_newest_first_page_by_page(
    monkeypatch: pytest.MonkeyPatch, projects: Any, carts: Any, orders: Any
) -> None:
    placed = []
    for n in range(3):
        monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(60 * n))
        placed.append(order(projects, carts, orders, f"ref-{n}"))

    listed = pages(orders, "/orders")

    assert [len(p) for p in listed] == [1, 1, 1]
    assert [p[0]["orderId"] for p in listed] == [o["orderId"] for o in reversed(placed)]
    first = listed[-1][0]
    assert first["externalOrderRef"] == "ref-0" and first["fileCount"] == 1
    assert first["items"][0]["quantity"] == 2 and first["status"] == "placed"
    assert pages(orders, "/orders", principal=BOB) == [[]]
    assert pages(orders, "/orders", principal=OTHER_TENANT) == [[]]


def test_a_cursor_of_one_list_is_refused_by_another(projects: Any, carts: Any, orders: Any) -> None:
    for n in range(2):
        order(projects, carts, orders, f"ref-{n}")
    _, page = call(orders, api_event("GET", "/orders", principal=ALICE, query={"limit": "1"}))
    assert page["nextCursor"]

    for caller in (BOB, OTHER_TENANT):
        status, body = call(orders, api_event("GET", "/orders", principal=caller, query={"cursor": page["nextCursor"]}))
        assert status == 400 and body["error"]["code"] == "invalid_cursor"
    status, body = call(projects, api_event("GET", "/projects", principal=ALICE, query={"cursor": page["nextCursor"]}))
    assert status == 400 and body["error"]["code"] == "invalid_cursor"


def test_a_projects_shares_are_listed_without_revoked_ones(projects: Any, shares: Any) -> None:
    pid = project(projects)
    created = []
    for mode in ("view", "copy", "view"):
        status, share = call(
            shares,
            api_event(
                "POST",
                "/projects/{projectId}/shares",
                principal=ALICE,
                path_params={"projectId": pid},
                body={"mode": mode, "expiresInDays": 7},
            ),
        )
        assert status == 201
        created.append(share)
    revoked = created[1]["shareId"]
    assert (
        call(
            shares,
            api_event(
                "DELETE",
                "/projects/{projectId}/shares/{shareId}",
                principal=ALICE,
                path_params={"projectId": pid, "shareId": revoked},
            ),
        )[0]
        == 204
    )

    listed = [s for page in pages(shares, "/projects/{projectId}/shares", path_params={"projectId": pid}) for s in page]

    assert sorted(s["shareId"] for s in listed) == sorted(s["shareId"] for s in created if s["shareId"] != revoked)
    assert {s["mode"] for s in listed} == {"view"} and all("token" not in s for s in listed)
    assert listed[0]["expiresAt"] == next(s["expiresAt"] for s in created if s["shareId"] == listed[0]["shareId"])


def test_another_users_project_shares_are_a_404(projects: Any, shares: Any) -> None:
    pid = project(projects)
    for caller in (BOB, OTHER_TENANT):
        status, body = call(
            shares, api_event("GET", "/projects/{projectId}/shares", principal=caller, path_params={"projectId": pid})
        )
        assert status == 404 and body["error"]["code"] == "not_found"
    assert (
        call(
            shares,
            api_event(
                "GET", "/projects/{projectId}/shares", principal=ALICE, path_params={"projectId": "no-such-project"}
            ),
        )[0]
        == 404
    )


def test_mobile_uploads_are_listed_newest_first_with_revoked_ones(monkeypatch: pytest.MonkeyPatch, mobile: Any) -> None:
    opened = []
    for n in range(3):
        monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(60 * n))
        status, created = call(
            mobile, api_event("POST", "/mobile-uploads", principal=ALICE, body={"retention": "session"})
        )
        assert status == 201
        opened.append(created["mobileUploadId"])
    assert (
        call(
            mobile,
            api_event(
                "DELETE", "/mobile-uploads/{mobileUploadId}", principal=ALICE, path_params={"mobileUploadId": opened[0]}
            ),
        )[0]
        == 204
    )

    listed = [m for page in pages(mobile, "/mobile-uploads", limit=2) for m in page]

    assert [m["mobileUploadId"] for m in listed] == list(reversed(opened))
    assert [m["revoked"] for m in listed] == [False, False, True]
    assert listed[0]["retention"] == "session" and listed[0]["fileCount"] == 0
    assert pages(mobile, "/mobile-uploads", principal=BOB) == [[]]
