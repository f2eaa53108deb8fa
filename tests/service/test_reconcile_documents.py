"""The bucket's reconciliation and document objects, against moto: what no item references goes,
what an item references stays byte for byte (projects, frozen order documents, lab manifests)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from imagestore import ids, keys
from imagestore.auth import Principal
from tests.conftest import BUCKET, Aws
from tests.support.events import api_event, call
from tests.support.files import stored_file

ALICE = Principal("shop-a", "alice", "s1")


def large_document(label: str) -> dict[str, Any]:
    """A document over the inline limit (INLINE_DOCUMENT_BYTES, 300 KB): kept in S3."""
    return {"label": label, "pages": [{"text": "x" * 1000, "n": n} for n in range(400)]}


def save_project(projects: Any, file_ids: list[str], document: Any, project: dict[str, Any] | None = None) -> Any:
    body = {"name": "Book", "productType": "photobook", "document": document, "fileIds": file_ids}
    if project is None:
        event = api_event("POST", "/projects", principal=ALICE, body=body)
    else:
        event = api_event(
            "PUT",
            "/projects/{projectId}",
            principal=ALICE,
            body=body,
            path_params={"projectId": project["projectId"]},
            headers={"If-Match": str(project["version"])},
        )
    status, saved = call(projects, event)
    assert status in (200, 201), saved
    return saved


def body(aws: Aws, key: str) -> bytes:
    return bytes(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def plant(aws: Aws, key: str) -> str:
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"planted": true}', ContentType="application/json")
    return key


def test_reconciliation_deletes_unreferenced_documents_and_keeps_referenced_ones(
    aws: Aws, projects: Any, carts: Any, orders: Any
) -> None:
    from scheduler_service.logic.backstop import ORPHAN_GRACE_SECONDS, reconcile
    from scheduler_service.logic.context import expiry_store

    photo = stored_file(ALICE)
    first, second = large_document("first"), large_document("second")
    project = save_project(projects, [photo.file_id], first)
    pid = project["projectId"]
    version_1 = project_document_key(aws, pid)
    status, cart_item = call(
        carts,
        api_event(
            "POST", "/cart-items", principal=ALICE, body={"projectId": pid, "productSku": "BOOK-A4", "quantity": 1}
        ),
    )
    assert status == 201, cart_item
    status, order = call(
        orders,
        api_event(
            "POST",
            "/orders",
            principal=ALICE,
            body={"cartItemIds": [cart_item["cartItemId"]], "externalOrderRef": "o-1"},
        ),
    )
    assert status == 201, order
    oid = order["orderId"]
    project = save_project(projects, [photo.file_id], second, project)  # version 2: version 1's object is deleted
    assert project["version"] == 2
    status, resubmission = call(
        orders, api_event("POST", "/orders/{orderId}/resubmissions", principal=ALICE, path_params={"orderId": oid})
    )
    assert status == 202, resubmission

    referenced = [
        project_document_key(aws, pid),
        keys.order_document_key("shop-a", oid, pid),
        keys.order_manifest_key("shop-a", oid, resubmission["resubmissionId"]),
    ]
    assert keys.parse_document_object_key(referenced[0])[:3] == ("shop-a", pid, 2)  # type: ignore[index]
    assert not aws.object_exists(version_1)
    before = {key: body(aws, key) for key in referenced}

    orphans = [
        plant(aws, version_1),  # a replaced version a crash left behind
        plant(aws, keys.document_object_key("shop-a", pid, 3, ids.new_id())),  # a save that failed
        plant(aws, keys.order_document_key("shop-a", ids.new_id(), pid)),  # an order that does not exist
        plant(aws, keys.order_document_key("shop-a", oid, ids.new_id())),  # a project the order did not freeze
        plant(aws, keys.order_manifest_key("shop-a", oid, ids.new_id())),  # a resubmission that does not exist
        plant(aws, keys.document_object_key("shop-b", ids.new_id(), 1, ids.new_id())),  # another tenant's
        plant(aws, referenced[0].replace("shop-a/", "shop-b/", 1)),  # the same ids in another tenant
    ]
    image_orphan = plant(aws, keys.object_key("shop-a", "alice", ids.new_id()))
    left_alone = [
        plant(aws, f"shop-a/documents/projects/{pid}/v1.json"),  # no write id: an unknown shape
        plant(aws, "shop-a/documents/projects/p1/v1.json"),  # not an id: an unknown shape
        plant(aws, f"shop-a/documents/orders/{oid}/notes.txt"),
        plant(aws, f"shop-a/documents/projects/{pid}/v2.json.bak"),
    ]

    # Every object so far is older than the cutoff; what is planted after it is inside the grace period.
    time.sleep(1.1)
    cutoff = int(time.time())
    time.sleep(1.1)
    fresh = [
        plant(aws, keys.order_document_key("shop-a", ids.new_id(), ids.new_id())),
        plant(aws, keys.document_object_key("shop-a", pid, 3, ids.new_id())),  # a save in flight
    ]

    aws.requests.reset()
    report = reconcile(expiry_store(), cutoff + ORPHAN_GRACE_SECONDS)

    assert report.documents_deleted == len(orphans)
    assert report.orphans_deleted == 1 and report.failed == 0 and report.finished_pass
    for key in orphans:
        assert not aws.object_exists(key), key
    assert not aws.object_exists(image_orphan)
    for key in [*left_alone, *fresh, photo.object_key]:
        assert aws.object_exists(key), key
    assert {key: body(aws, key) for key in referenced} == before
    # one page: one BatchGetItem for the file items, one for the owners, one DeleteObjects
    assert aws.requests.calls["dynamodb.BatchGetItem"] == 2
    assert aws.requests.calls["s3.DeleteObjects"] == 1

    status, loaded = call(
        projects, api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid})
    )
    assert status == 200 and loaded["document"] == second and loaded["version"] == 2
    status, kept = call(orders, api_event("GET", "/orders/{orderId}", principal=ALICE, path_params={"orderId": oid}))
    assert status == 200 and requests.get(kept["projects"][0]["documentUrl"], timeout=10).json() == first
    manifest = json.loads(body(aws, referenced[2]))
    assert manifest["resubmissionId"] == resubmission["resubmissionId"]

    again = reconcile(expiry_store(), cutoff + ORPHAN_GRACE_SECONDS)
    assert again.documents_deleted == 0 and again.orphans_deleted == 0


def test_an_inline_project_leaves_no_old_version_behind(aws: Aws, projects: Any) -> None:
    """A project saved large, then small: its document is in the item, so every object of its
    earlier versions, should a crash have left one, is unreferenced."""
    from scheduler_service.logic.backstop import ORPHAN_GRACE_SECONDS, reconcile
    from scheduler_service.logic.context import expiry_store

    project = save_project(projects, [], large_document("large"))
    project = save_project(projects, [], {"small": True}, project)
    pid = project["projectId"]
    meta = aws.item(**keys.project_key("shop-a", pid))
    assert meta is not None and "documentKey" not in meta
    stale = [plant(aws, keys.document_object_key("shop-a", pid, v, ids.new_id())) for v in (1, 2, 3)]

    report = reconcile(expiry_store(), int(time.time()) + 2 * ORPHAN_GRACE_SECONDS)

    assert report.documents_deleted == 3
    assert not any(aws.object_exists(key) for key in stale)
    status, loaded = call(
        projects, api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid})
    )
    assert status == 200 and loaded["document"] == {"small": True}


def test_a_save_that_lost_the_race_deletes_its_own_document_only(
    aws: Aws, projects: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two saves of version 1 at once: the one whose META write loses answers 412 and deletes the
    object it wrote, never the winner's (each save writes its document under its own key)."""
    from project_service.logic import projects as logic

    project = save_project(projects, [], large_document("v1"))
    pid = project["projectId"]
    real_read, first_read = logic.load_own_project, []

    def read_before_the_winner_saved(*args: Any, **kwargs: Any) -> Any:
        if not first_read:
            first_read.append(real_read(*args, **kwargs))
        return first_read[0]

    monkeypatch.setattr(logic, "load_own_project", read_before_the_winner_saved)
    winner = save_project(projects, [], large_document("winner"), project)
    winner_key = project_document_key(aws, pid)
    status, refused = call(
        projects,
        api_event(
            "PUT",
            "/projects/{projectId}",
            principal=ALICE,
            path_params={"projectId": pid},
            headers={"If-Match": "1"},
            body={"name": "Book", "productType": "photobook", "document": large_document("loser"), "fileIds": []},
        ),
    )
    monkeypatch.undo()

    assert winner["version"] == 2 and status == 412, refused
    assert aws.object_exists(winner_key)
    status, loaded = call(
        projects, api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid})
    )
    assert status == 200 and loaded["document"] == large_document("winner") and loaded["version"] == 2
    listed = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"shop-a/documents/projects/{pid}/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [winner_key], "the loser's object is gone too"


def project_document_key(aws: Aws, project_id: str) -> str:
    meta = aws.item(**keys.project_key("shop-a", project_id))
    assert meta is not None and "document" not in meta
    return str(meta["manifestKey"])
