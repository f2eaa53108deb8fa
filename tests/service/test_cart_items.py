"""Cart items in-process against moto: holds for the cart retention, external carts, isolation."""

from __future__ import annotations

import time
from typing import Any

import pytest

from imagestore.auth import Principal
from tests.conftest import Aws
from tests.support.events import api_event, call
from tests.support.files import stored_file, stored_files
from tests.support.scheduler import run_sweep

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s2")
OTHER_TENANT = Principal("shop-b", "alice", "s1")
DAY = 86400


def create_project(projects: Any, file_ids: list[str], principal: Principal = ALICE) -> str:
    body = {"name": "Wall", "productType": "poster", "document": {"image": file_ids}, "fileIds": file_ids}
    status, project = call(projects, api_event("POST", "/projects", principal=principal, body=body))
    assert status == 201, project
    return str(project["projectId"])


def add(carts: Any, body: dict[str, Any], principal: Principal = ALICE) -> tuple[int, Any]:
    return call(carts, api_event("POST", "/cart-items", principal=principal, body=body))


def listing(carts: Any, principal: Principal = ALICE, **query: str) -> tuple[int, Any]:
    return call(carts, api_event("GET", "/cart-items", principal=principal, query=query or None))


def delete(carts: Any, cart_item_id: str, principal: Principal = ALICE) -> int:
    event = api_event(
        "DELETE", "/cart-items/{cartItemId}", principal=principal, path_params={"cartItemId": cart_item_id}
    )
    return call(carts, event)[0]


def hold_count(aws: Aws, file_id: str) -> int:
    item = aws.item("T#shop-a#U#alice", f"FILE#{file_id}")
    assert item is not None
    return int(item["holdCount"])


def test_a_product_cart_item_is_kept_for_the_cart_retention(aws: Aws, carts: Any) -> None:
    status, item = add(carts, {"productSku": "MUG-11OZ", "quantity": 2})

    assert status == 201, item
    assert item["productSku"] == "MUG-11OZ" and item["quantity"] == 2 and item["projectId"] is None
    meta = aws.item(f"T#shop-a#CART#{item['cartItemId']}", "META")
    assert meta["entity"] == "cartItem" and meta["status"] == "active" and meta["userId"] == "alice"
    assert int(meta["expiresAt"]) == pytest.approx(time.time() + 30 * DAY, abs=60)
    assert meta["gsi1pk"] == "T#shop-a#U#alice#CART" and meta["xpk"].startswith("EXP#")


def test_a_cart_item_holds_its_project_files_after_the_project_is_gone(
    aws: Aws, projects: Any, carts: Any, files: Any
) -> None:
    f1 = stored_file(ALICE)
    pid = create_project(projects, [f1.file_id])
    status, item = add(carts, {"projectId": pid, "productSku": "POSTER-A2", "quantity": 1})
    assert status == 201, item
    assert item["projectVersion"] == 1 and item["fileCount"] == 1
    cart_pk = f"T#shop-a#CART#{item['cartItemId']}"
    assert aws.item(f"T#shop-a#P#{pid}", f"PIN#{cart_pk}")["version"] == 1  # a pin, not a hold per file
    assert aws.item(f"T#shop-a#P#{pid}", "META")["pinCount"] == 1
    assert hold_count(aws, f1.file_id) == 1

    delete_project = api_event("DELETE", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid})
    assert call(projects, delete_project)[0] == 204
    run_sweep()  # the project is gone for readers but kept, with its holds, while the cart item pins it
    delete_file = api_event("DELETE", "/files/{fileId}", principal=ALICE, path_params={"fileId": f1.file_id})
    assert call(files, delete_file)[0] == 409
    assert hold_count(aws, f1.file_id) == 1

    assert delete(carts, item["cartItemId"]) == 204
    assert aws.item(cart_pk, "META") is None
    assert aws.item(f"T#shop-a#P#{pid}", f"PIN#{cart_pk}") is None
    run_sweep()  # the last pin went: the deleted project is removed and lets f1 go
    assert aws.item(f"T#shop-a#P#{pid}", "META") is None
    assert hold_count(aws, f1.file_id) == 0
    assert call(files, delete_file)[0] == 204


def test_only_own_projects_and_valid_input_are_accepted(aws: Aws, projects: Any, carts: Any) -> None:
    bobs = create_project(projects, [], BOB)
    status, body = add(carts, {"projectId": bobs, "productSku": "X", "quantity": 1})
    assert status == 422 and body["error"]["details"] == {"projectId": bobs}
    assert add(carts, {"productSku": "X", "quantity": 0})[0] == 400
    assert add(carts, {"productSku": "", "quantity": 1})[0] == 400
    assert add(carts, {"productSku": "X", "quantity": 1, "externalCartId": "a#b"})[0] == 400
    assert add(carts, {"productSku": "X", "quantity": 1, "unknown": 1})[0] == 400
    assert listing(carts)[1]["items"] == []


def test_list_is_newest_first_paginated_and_private(carts: Any) -> None:
    added = []
    for n in range(3):
        added.append(add(carts, {"productSku": f"SKU-{n}", "quantity": 1})[1]["cartItemId"])
        time.sleep(1.05)
    seen, cursor = [], None
    while True:
        status, page = listing(carts, limit="2", **({"cursor": cursor} if cursor else {}))
        assert status == 200
        seen += [i["cartItemId"] for i in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == list(reversed(added))
    first_cursor = listing(carts, limit="1")[1]["nextCursor"]
    status, body = listing(carts, BOB, cursor=first_cursor)
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    assert listing(carts, BOB)[1]["items"] == []
    assert listing(carts, OTHER_TENANT)[1]["items"] == []


def test_an_external_cart_lists_the_items_of_every_user_of_the_tenant(aws: Aws, carts: Any) -> None:
    _, mine = add(carts, {"productSku": "CARD", "quantity": 10, "externalCartId": "shop-cart-42"})
    _, bobs = add(carts, {"productSku": "BOOK", "quantity": 1, "externalCartId": "shop-cart-42"}, BOB)
    add(carts, {"productSku": "MUG", "quantity": 1, "externalCartId": "other-cart"})

    status, page = listing(carts, BOB, externalCartId="shop-cart-42")

    assert status == 200
    assert [i["cartItemId"] for i in page["items"]] == [mine["cartItemId"], bobs["cartItemId"]]
    assert listing(carts, OTHER_TENANT, externalCartId="shop-cart-42")[1]["items"] == []
    meta = aws.item(f"T#shop-a#CART#{mine['cartItemId']}", "META")
    pointer = {"pk": "T#shop-a#XCART#shop-cart-42", "sk": f"CART#{mine['cartItemId']}"}
    assert meta["companionKeys"] == [pointer]

    assert delete(carts, mine["cartItemId"], BOB) == 404
    assert delete(carts, mine["cartItemId"]) == 204
    assert aws.item(pointer["pk"], pointer["sk"]) is None
    assert [i["cartItemId"] for i in listing(carts, externalCartId="shop-cart-42")[1]["items"]] == [bobs["cartItemId"]]


def test_other_users_and_tenants_cannot_delete_and_expired_items_are_gone(
    monkeypatch: pytest.MonkeyPatch, carts: Any
) -> None:
    _, item = add(carts, {"productSku": "X", "quantity": 1})
    assert delete(carts, item["cartItemId"], BOB) == 404
    assert delete(carts, item["cartItemId"], OTHER_TENANT) == 404
    assert delete(carts, "not-an-id") == 404

    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(31 * DAY))
    assert listing(carts)[1]["items"] == []
    assert delete(carts, item["cartItemId"]) == 404


def test_adding_a_project_costs_a_bounded_number_of_requests(aws: Aws, projects: Any, carts: Any) -> None:
    pid = create_project(projects, [f.file_id for f in stored_files(ALICE, 60)])

    aws.requests.reset()
    status, item = add(carts, {"projectId": pid, "productSku": "BOOK", "quantity": 1, "externalCartId": "c1"})

    assert status == 201 and item["fileCount"] == 60
    # The project's META, a server-side copy of its version's manifest (what an order of the item
    # freezes), then one transaction: the item, its pointer and the pin. Nothing per file.
    assert dict(aws.requests.calls) == {"dynamodb.GetItem": 1, "s3.CopyObject": 1, "dynamodb.TransactWriteItems": 1}
