"""Orders in-process against moto: frozen projects, idempotency, resubmission to the lab, isolation."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from imagestore.auth import Principal
from tests.conftest import BUCKET, REGION, TABLE, Aws
from tests.support.events import api_event, call
from tests.support.files import stored_file, stored_files
from tests.support.holds_audit import audit
from tests.support.images import jpeg
from tests.support.scheduler import run_sweep

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s2")
OTHER_TENANT = Principal("shop-b", "alice", "s1")
DAY = 86400


def document_of(frozen: dict[str, Any]) -> Any:
    """An order's frozen document, from its documentUrl (orders link documents, never inline them)."""
    response = requests.get(frozen["documentUrl"], timeout=10)
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def lab_queue(aws: Aws) -> Any:
    """An SQS queue receiving the default bus's imagestore.orders events; returns a reader."""
    import boto3

    sqs, events = boto3.client("sqs", region_name=REGION), boto3.client("events", region_name=REGION)
    url = sqs.create_queue(QueueName="lab")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="lab", EventPattern=json.dumps({"source": ["imagestore.orders"]}))
    events.put_targets(Rule="lab", Targets=[{"Id": "lab", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return received


def save(projects: Any, file_ids: list[str], project_id: str | None = None, version: int = 1) -> dict[str, Any]:
    body = {"name": "Book", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
    if project_id is None:
        event = api_event("POST", "/projects", principal=ALICE, body=body)
    else:
        event = api_event(
            "PUT",
            "/projects/{projectId}",
            principal=ALICE,
            body=body,
            path_params={"projectId": project_id},
            headers={"If-Match": str(version)},
        )
    status, project = call(projects, event)
    assert status in (200, 201), project
    return project


def add_to_cart(carts: Any, project_id: str | None, principal: Principal = ALICE) -> str:
    body: dict[str, Any] = {"productSku": "BOOK-A4", "quantity": 1}
    if project_id:
        body["projectId"] = project_id
    status, item = call(carts, api_event("POST", "/cart-items", principal=principal, body=body))
    assert status == 201, item
    return str(item["cartItemId"])


def place(
    orders: Any, cart_item_ids: list[str], ref: str = "shop-order-1", principal: Principal = ALICE
) -> tuple[int, Any]:
    return call(
        orders,
        api_event("POST", "/orders", principal=principal, body={"cartItemIds": cart_item_ids, "externalOrderRef": ref}),
    )


def get(orders: Any, order_id: str, principal: Principal = ALICE) -> tuple[int, Any]:
    return call(orders, api_event("GET", "/orders/{orderId}", principal=principal, path_params={"orderId": order_id}))


def resubmit(orders: Any, order_id: str, principal: Principal = ALICE) -> tuple[int, Any]:
    return call(
        orders,
        api_event("POST", "/orders/{orderId}/resubmissions", principal=principal, path_params={"orderId": order_id}),
    )


def hold_count(aws: Aws, file_id: str) -> int | None:
    item = aws.item("T#shop-a#U#alice", f"FILE#{file_id}")
    return None if item is None else int(item["holdCount"])


def without_urls(order: dict[str, Any]) -> dict[str, Any]:
    """The order with its presigned URLs (documents, downloads and previews) left out: they are signed anew on
    every read (a read in the next second signs another X-Amz-Date)."""
    copy = json.loads(json.dumps(order))
    for project in copy["projects"]:
        project.pop("documentUrl")
        for file in project["files"]:
            file.pop("downloadUrl")
            for preview in (file.get("previews") or {}).values():
                preview.pop("url")
    return copy


def test_an_order_freezes_its_project_and_holds_its_files(aws: Aws, projects: Any, carts: Any, orders: Any) -> None:
    data = jpeg((50, 40))
    f1, f2 = stored_file(ALICE, data), stored_file(ALICE)
    project = save(projects, [f1.file_id, f2.file_id])
    book, mug = add_to_cart(carts, project["projectId"]), add_to_cart(carts, None)

    status, order = place(orders, [book, mug])

    assert status == 201, order
    oid = order["orderId"]
    assert order["externalOrderRef"] == "shop-order-1" and order["status"] == "placed"
    assert [i["cartItemId"] for i in order["items"]] == [book, mug]
    assert order["items"][0]["projectVersion"] == 1 and order["items"][1]["projectId"] is None
    (frozen,) = order["projects"]
    assert document_of(frozen) == {"pages": [f1.file_id, f2.file_id]} and frozen["version"] == 1
    assert requests.get(frozen["files"][0]["downloadUrl"], timeout=10).content == data
    meta = aws.item(f"T#shop-a#ORDER#{oid}", "META")
    assert meta["entity"] == "order" and meta["status"] == "active" and meta["placed"] is True
    assert int(meta["expiresAt"]) == pytest.approx(time.time() + 180 * DAY, abs=60)
    assert meta["companionKeys"] == [{"pk": "T#shop-a#OREF#shop-order-1", "sk": "META"}]
    assert aws.item("T#shop-a#OREF#shop-order-1", "META")["orderId"] == oid
    pid = project["projectId"]
    assert aws.item(f"T#shop-a#ORDER#{oid}", f"PROJECT#{pid}")["pinKey"] == {
        "pk": f"T#shop-a#P#{pid}",
        "sk": f"PIN#T#shop-a#ORDER#{oid}",
    }
    assert aws.item(f"T#shop-a#P#{pid}", "META")["pinCount"] == 2  # the cart item and the order
    assert aws.object_exists(f"shop-a/documents/orders/{oid}/{pid}.json")
    assert aws.object_exists(f"shop-a/documents/orders/{oid}/{pid}.manifest.json")
    assert hold_count(aws, f1.file_id) == 1  # the project's hold, which its pins keep


def test_the_same_order_reference_gives_the_same_order(projects: Any, carts: Any, orders: Any) -> None:
    project = save(projects, [stored_file(ALICE).file_id])
    book, other = add_to_cart(carts, project["projectId"]), add_to_cart(carts, None)
    status, first = place(orders, [book])
    assert status == 201

    status, again = place(orders, [book])

    assert status == 200
    assert without_urls(again) == without_urls(first)
    status, body = place(orders, [book, other])
    assert status == 409 and body["error"]["details"] == {"orderId": first["orderId"]}
    assert place(orders, [add_to_cart(carts, None, BOB)], principal=BOB)[0] == 409


def test_a_placement_that_loses_the_reference_to_a_concurrent_one_returns_the_winner(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, projects: Any, carts: Any, orders: Any
) -> None:
    from imagestore.data.orders import OrderStore

    f1 = stored_file(ALICE)
    book = add_to_cart(carts, save(projects, [f1.file_id])["projectId"])
    status, winner = place(orders, [book], "race-1")
    assert status == 201
    # A second request that looked the reference up before the first one claimed it.
    lookup, calls = OrderStore.order_id_of_ref, []

    def first_lookup_misses(self: OrderStore, *args: Any) -> Any:
        calls.append(args)
        return None if len(calls) == 1 else lookup(self, *args)

    monkeypatch.setattr(OrderStore, "order_id_of_ref", first_lookup_misses)

    status, loser = place(orders, [book], "race-1")

    assert status == 200 and loser["orderId"] == winner["orderId"]
    assert aws.item("T#shop-a#OREF#race-1", "META")["orderId"] == winner["orderId"]
    pid = aws.item(f"T#shop-a#ORDER#{winner['orderId']}", "META")["lines"][0]["projectId"]
    assert aws.item(f"T#shop-a#P#{pid}", "META")["pinCount"] == 2  # the cart item and the one order
    assert hold_count(aws, f1.file_id) == 1
    assert len(calls) == 2
    every_order = aws.dynamodb.scan(
        TableName="imagestore-test", FilterExpression="entity = :o", ExpressionAttributeValues={":o": {"S": "order"}}
    )["Items"]
    assert [o["orderId"]["S"] for o in every_order] == [winner["orderId"]]  # (a test may Scan; the API never does)


def test_an_order_keeps_the_version_it_was_made_from(
    aws: Aws, projects: Any, carts: Any, orders: Any, files: Any
) -> None:
    data = jpeg((20, 20))
    a, b, c = stored_file(ALICE, data), stored_file(ALICE), stored_file(ALICE)
    project = save(projects, [a.file_id, b.file_id])
    pid = project["projectId"]
    item = add_to_cart(carts, pid)
    _, order = place(orders, [item])

    save(projects, [c.file_id], pid, version=1)
    for event in (
        api_event("DELETE", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid}),
        api_event("DELETE", "/cart-items/{cartItemId}", principal=ALICE, path_params={"cartItemId": item}),
    ):
        assert call(projects if "projects" in event["resource"] else carts, event)[0] == 204
    delete_a = api_event("DELETE", "/files/{fileId}", principal=ALICE, path_params={"fileId": a.file_id})
    assert call(files, delete_a)[0] == 409

    status, kept = get(orders, order["orderId"])

    assert status == 200
    assert kept["projects"][0]["version"] == 1
    assert document_of(kept["projects"][0]) == {"pages": [a.file_id, b.file_id]}
    assert [f["fileId"] for f in kept["projects"][0]["files"]] == [a.file_id, b.file_id]
    assert requests.get(kept["projects"][0]["files"][0]["downloadUrl"], timeout=10).content == data
    run_sweep()  # the deleted project stays (hidden) while the order pins it
    assert get(orders, order["orderId"])[1]["projects"][0]["files"][0]["fileId"] == a.file_id
    # A pinned project releases nothing: c, added after the order, stays held until the order goes.
    assert hold_count(aws, a.file_id) == 1 and hold_count(aws, c.file_id) == 1


def test_a_cart_item_of_a_deleted_project_can_be_ordered(aws: Aws, projects: Any, carts: Any, orders: Any) -> None:
    """Issue 24: the cart item's pin keeps the deleted project's images for the cart retention, so
    ordering it works (it answered 409 "no longer exists"), from the version it pinned."""
    data = jpeg((20, 20))
    a, b = stored_file(ALICE, data), stored_file(ALICE)
    project = save(projects, [a.file_id, b.file_id])
    pid = project["projectId"]
    item = add_to_cart(carts, pid)
    delete = api_event("DELETE", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid})
    assert call(projects, delete)[0] == 204
    run_sweep()  # the deleted project stays (hidden) while the cart item pins it

    status, order = place(orders, [item])

    assert status == 201, order
    (frozen,) = order["projects"]
    assert frozen["version"] == 1 and frozen["name"] == "Book"
    assert document_of(frozen) == {"pages": [a.file_id, b.file_id]}
    assert [f["fileId"] for f in frozen["files"]] == [a.file_id, b.file_id]
    assert order["items"][0]["projectVersion"] == 1
    assert requests.get(frozen["files"][0]["downloadUrl"], timeout=10).content == data
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, int(time.time())) == []
    # The cart item goes; the order keeps the project (and its files) on its own.
    assert (
        call(carts, api_event("DELETE", "/cart-items/{cartItemId}", principal=ALICE, path_params={"cartItemId": item}))[
            0
        ]
        == 204
    )
    run_sweep()
    assert hold_count(aws, a.file_id) == 1 and hold_count(aws, b.file_id) == 1
    kept = get(orders, order["orderId"])[1]["projects"][0]
    assert requests.get(kept["files"][0]["downloadUrl"], timeout=10).content == data
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, int(time.time())) == []


def test_an_order_contains_what_was_put_in_the_cart_though_the_project_was_edited_since(
    aws: Aws, projects: Any, carts: Any, orders: Any
) -> None:
    a, b, c = stored_file(ALICE), stored_file(ALICE), stored_file(ALICE)
    project = save(projects, [a.file_id, b.file_id])
    pid = project["projectId"]
    item = add_to_cart(carts, pid)
    save(projects, [c.file_id], pid, version=1)  # version 2, after the cart item was made

    status, order = place(orders, [item])

    assert status == 201, order
    (frozen,) = order["projects"]
    assert frozen["version"] == 1 and document_of(frozen) == {"pages": [a.file_id, b.file_id]}
    assert [f["fileId"] for f in frozen["files"]] == [a.file_id, b.file_id]
    assert order["items"][0]["projectVersion"] == 1
    assert get(orders, order["orderId"])[1]["projects"][0]["version"] == 1
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, int(time.time())) == []


def _edit_right_after_the_order_reads_the_project(
    monkeypatch: pytest.MonkeyPatch, projects: Any, new_file_id: str, version: int
) -> None:
    """The order reads version n; before it pins it, a save makes version n + 1 without n's files."""
    from imagestore.data.projects import ProjectStore

    load, edited = ProjectStore.load, []

    def load_then_edit(self: ProjectStore, tenant_id: str, project_id: str) -> Any:
        loaded = load(self, tenant_id, project_id)
        if not edited:
            edited.append(project_id)
            save(projects, [new_file_id], project_id, version=version)
        return loaded

    monkeypatch.setattr(ProjectStore, "load", load_then_edit)


def test_an_order_of_a_cart_item_without_its_version_racing_an_edit_freezes_the_edited_version_whole(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, projects: Any, carts: Any, orders: Any
) -> None:
    """A cart item made before cart items kept a copy of their version, whose project was edited since
    (its version's manifest is gone): the order freezes the project as it is now, whole, even when a
    save races it."""
    old, mid, new = (stored_file(ALICE, retention_seconds=3600) for _ in range(3))
    project = save(projects, [old.file_id])
    item = add_to_cart(carts, project["projectId"])
    aws.dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"T#shop-a#CART#{item}"}, "sk": {"S": "META"}},
        UpdateExpression="REMOVE manifestKey, projectName, projectProductType",
    )
    save(projects, [mid.file_id], project["projectId"], version=1)
    _edit_right_after_the_order_reads_the_project(monkeypatch, projects, new.file_id, version=2)

    status, order = place(orders, [item])

    # The pin on version 2 failed (version 3 was saved meanwhile): the order froze version 3 instead.
    assert status == 201, order
    (frozen,) = order["projects"]
    assert frozen["version"] == 3 and document_of(frozen) == {"pages": [new.file_id]}
    assert [f["fileId"] for f in frozen["files"]] == [new.file_id]
    assert order["items"][0]["projectVersion"] == 3
    assert get(orders, order["orderId"])[1]["projects"][0]["version"] == 3
    every_order = aws.dynamodb.scan(
        TableName=TABLE, FilterExpression="entity = :o", ExpressionAttributeValues={":o": {"S": "order"}}
    )["Items"]
    assert len(every_order) == 1  # the first attempt left nothing behind
    # The cart item pinned version 1 before the edits: every file stays held with the project.
    assert [hold_count(aws, f.file_id) for f in (old, mid, new)] == [1, 1, 1]
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, int(time.time())) == []


def test_an_order_of_a_cart_item_without_its_version_copy_uses_the_project_if_still_at_that_version(
    aws: Aws, projects: Any, carts: Any, orders: Any
) -> None:
    """A cart item made before cart items kept a copy, whose project was deleted but not edited: the
    project's last version is the one the cart item pinned, and the order freezes it."""
    a = stored_file(ALICE)
    project = save(projects, [a.file_id])
    item = add_to_cart(carts, project["projectId"])
    aws.dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"T#shop-a#CART#{item}"}, "sk": {"S": "META"}},
        UpdateExpression="REMOVE manifestKey, projectName, projectProductType",
    )
    delete = api_event(
        "DELETE", "/projects/{projectId}", principal=ALICE, path_params={"projectId": project["projectId"]}
    )
    assert call(projects, delete)[0] == 204

    status, order = place(orders, [item])

    assert status == 201, order
    assert order["projects"][0]["version"] == 1 and order["projects"][0]["name"] == "Book"
    assert [f["fileId"] for f in order["projects"][0]["files"]] == [a.file_id]
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, int(time.time())) == []


def test_only_own_live_cart_items_can_be_ordered(aws: Aws, carts: Any, orders: Any) -> None:
    bobs = add_to_cart(carts, None, BOB)
    status, body = place(orders, [bobs, "nonsense"])
    assert status == 422 and body["error"]["details"] == {"unavailableCartItemIds": [bobs, "nonsense"]}
    assert place(orders, [], "r")[0] == 400
    assert place(orders, [bobs], "bad#ref")[0] == 400
    assert aws.item("T#shop-a#OREF#shop-order-1", "META") is None


def test_other_users_and_tenants_get_404(carts: Any, orders: Any) -> None:
    _, order = place(orders, [add_to_cart(carts, None)])
    for intruder in (BOB, OTHER_TENANT):
        assert get(orders, order["orderId"], intruder)[0] == 404
        assert resubmit(orders, order["orderId"], intruder)[0] == 404
    assert get(orders, "not-an-id")[0] == 404


def test_a_resubmission_gives_the_lab_urls_that_download_the_frozen_images(
    aws: Aws, projects: Any, carts: Any, orders: Any, lab_queue: Any
) -> None:
    data = jpeg((33, 22))
    f1 = stored_file(ALICE, data)
    project = save(projects, [f1.file_id])
    _, order = place(orders, [add_to_cart(carts, project["projectId"])])

    status, sent = resubmit(orders, order["orderId"])

    assert status == 202, sent
    assert [m["fileId"] for m in sent["manifest"]] == [f1.file_id]
    assert sent["manifest"][0]["filename"] == "photo.jpg"
    assert requests.get(sent["manifest"][0]["url"], timeout=10).content == data
    assert "X-Amz-Expires=604800" in sent["manifest"][0]["url"]
    assert json.loads(requests.get(sent["documents"][0]["url"], timeout=10).content) == {"pages": [f1.file_id]}
    manifest_key = f"shop-a/documents/orders/{order['orderId']}/resubmissions/{sent['resubmissionId']}.json"
    assert aws.object_exists(manifest_key)
    stored = aws.item(f"T#shop-a#ORDER#{order['orderId']}", f"RESUBMISSION#{sent['resubmissionId']}")
    assert stored["documentKey"] == manifest_key
    (event,) = lab_queue()
    assert event["source"] == "imagestore.orders" and event["detail-type"] == "OrderResubmitted"
    assert event["detail"]["orderId"] == order["orderId"] and event["detail"]["fileCount"] == 1
    assert sent["fileCount"] == 1 and sent["manifestComplete"] is True
    assert json.loads(requests.get(sent["manifestUrl"], timeout=10).content)["manifest"] == sent["manifest"]
    assert json.loads(requests.get(event["detail"]["manifestUrl"], timeout=10).content)["manifest"] == sent["manifest"]


def test_an_expired_order_is_gone(monkeypatch: pytest.MonkeyPatch, carts: Any, orders: Any) -> None:
    _, order = place(orders, [add_to_cart(carts, None)])
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(181 * DAY))
    assert get(orders, order["orderId"])[0] == 404


def test_placing_an_order_costs_a_bounded_number_of_requests(aws: Aws, projects: Any, carts: Any, orders: Any) -> None:
    project = save(projects, [f.file_id for f in stored_files(ALICE, 60)])
    items = [add_to_cart(carts, project["projectId"]), add_to_cart(carts, None)]

    aws.requests.reset()
    status, order = place(orders, items)

    assert status == 201 and len(order["projects"][0]["files"]) == 60
    assert dict(aws.requests.calls) == {
        "dynamodb.GetItem": 1,  # the order reference (not used yet)
        "dynamodb.BatchGetItem": 1,  # the cart items
        "s3.GetObject": 1,  # per ordered project: the cart item's copy of its version's manifest
        "s3.PutObject": 2,  # per ordered project: the frozen document and manifest
        "dynamodb.TransactWriteItems": 1,  # the order, its reference, frozen projects and pins: nothing per file
    }


def test_a_resubmission_of_many_files_answers_the_first_ones_and_links_the_whole_manifest(
    aws: Aws, projects: Any, carts: Any, orders: Any, lab_queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order's files are unbounded in an answer (projects x files): the answer lists a bounded first part."""
    from project_service.logic import orders as order_logic

    monkeypatch.setattr(order_logic, "MANIFEST_INLINE_ENTRIES", 2)
    files = [stored_file(ALICE, jpeg((20 + n, 20))).file_id for n in range(3)]
    _, order = place(orders, [add_to_cart(carts, save(projects, files)["projectId"])])

    status, sent = resubmit(orders, order["orderId"])

    assert status == 202, sent
    assert [m["fileId"] for m in sent["manifest"]] == files[:2]
    assert sent["fileCount"] == 3 and sent["manifestComplete"] is False
    whole = json.loads(requests.get(sent["manifestUrl"], timeout=10).content)
    assert [m["fileId"] for m in whole["manifest"]] == files and whole["manifestComplete"] is True
