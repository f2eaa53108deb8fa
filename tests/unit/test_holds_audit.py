"""The holds audit (tests/support/holds_audit.py) can fail: a small consistent table passes, and each
kind of inconsistency written into it is reported (moto DynamoDB and S3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from imagestore import keys
from imagestore.data.table import serialize
from imagestore.models.files import FileRecord, FileStatus
from imagestore.models.holds import FileRef
from imagestore.models.manifests import Manifest
from imagestore.models.projects import ProjectRecord
from tests.conftest import BUCKET, TABLE, Aws
from tests.support.holds_audit import audit

NOW = 1_800_000_000
SHARDS = 32
T, U = "t1", "u1"
PROJECT, COPY, CART, ORDER = "proj", "copy", "cart", "order"
PROJECT_PK, COPY_PK = keys.project_pk(T, PROJECT), keys.project_pk(T, COPY)
CART_PK, ORDER_PK = keys.cart_item_pk(T, CART), keys.order_pk(T, ORDER)

Items = dict[str, dict[str, Any]]  # a name -> an item of the table
Objects = dict[str, Any]  # S3 key -> manifest (None: no object)


def file_item(file_id: str, *holders: str) -> dict[str, Any]:
    """A file held by the named projects (at epoch 1), or unheld (in the index, with its TTL)."""
    record = FileRecord(
        tenant_id=T,
        user_id=U,
        file_id=file_id,
        session_id="s1",
        filename=f"{file_id}.png",
        content_type="image/png",
        size_bytes=10,
        status=FileStatus.AVAILABLE,
        created_at=NOW - 3600,
        expires_at=NOW + 3600,
        hold_count=len(holders),
    )
    return {**record.to_item(SHARDS), **{f"H#{p}": 1 for p in holders}}


def ref(file_id: str) -> FileRef:
    return FileRef(
        tenant_id=T, owner_id=U, file_id=file_id, filename=f"{file_id}.png", content_type="image/png", size_bytes=10
    )


def project_item(project_id: str, manifest_key: str, *, pins: int = 0, base: str | None = None) -> dict[str, Any]:
    record = ProjectRecord(
        tenant_id=T,
        user_id=U,
        project_id=project_id,
        name="Book",
        product_type="photobook",
        version=1,
        created_at=NOW,
        saved_at=NOW,
        expires_at=NOW + 86400,
        manifest_key=manifest_key,
        lock_epoch=1,
        pin_count=pins,
        base_project_id=base,
    )
    item = record.to_item(SHARDS)
    if pins:
        del item["ttl"]  # a pin takes the project's TTL away
    return item


def pin_item(project_pk: str, holder_pk: str) -> dict[str, Any]:
    return {
        **keys.pin_key(project_pk, holder_pk),
        "entity": "pin",
        "holderPk": holder_pk,
        "version": 1,
        "createdAt": NOW,
    }


def consistent() -> tuple[Items, Objects]:
    """Project `proj` holds f1 and f2 and is pinned by a cart item, an order and a copy (which lists f1
    through its pin); f3 is held by nobody."""
    order_manifest = keys.order_frozen_manifest_key(T, ORDER, PROJECT)
    objects: Objects = {
        "m/proj": Manifest(project_id=PROJECT, version=1, files=(ref("f1"), ref("f2")), held=("f1", "f2")),
        "m/copy": Manifest(project_id=COPY, version=1, files=(ref("f1"),), base_file_ids=("f1",)),
        order_manifest: Manifest(project_id=PROJECT, version=1, files=(ref("f1"), ref("f2")), held=("f1", "f2")),
    }
    items: Items = {
        "f1": file_item("f1", PROJECT),
        "f2": file_item("f2", PROJECT),
        "f3": file_item("f3"),
        "project": project_item(PROJECT, "m/proj", pins=3),
        "copy": project_item(COPY, "m/copy", base=PROJECT),
        "cart": {
            "pk": CART_PK,
            "sk": keys.META,
            "entity": "cartItem",
            "tenantId": T,
            "userId": U,
            "pinKey": keys.pin_key(PROJECT_PK, CART_PK),
        },
        "order": {"pk": ORDER_PK, "sk": keys.META, "entity": "order", "tenantId": T, "userId": U},
        "frozen": {
            "pk": ORDER_PK,
            "sk": keys.order_project_sk(PROJECT),
            "entity": "orderProject",
            "tenantId": T,
            "orderId": ORDER,
            "projectId": PROJECT,
            "version": 1,
            "pinKey": keys.pin_key(PROJECT_PK, ORDER_PK),
            "documentKey": keys.order_document_key(T, ORDER, PROJECT),
            "manifestKey": order_manifest,
        },
        "pin cart": pin_item(PROJECT_PK, CART_PK),
        "pin order": pin_item(PROJECT_PK, ORDER_PK),
        "pin copy": pin_item(PROJECT_PK, COPY_PK),
    }
    return items, objects


def write(aws: Aws, items: Items, objects: Objects) -> list[str]:
    for item in items.values():
        aws.dynamodb.put_item(TableName=TABLE, Item=serialize(item))
    for key, manifest in objects.items():
        if manifest is not None:
            aws.s3.put_object(Bucket=BUCKET, Key=key, Body=manifest.to_bytes())
    return audit(aws.dynamodb, aws.s3, TABLE, BUCKET, NOW)


def test_a_consistent_table_passes(aws: Aws) -> None:
    assert write(aws, *consistent()) == []


def unheld(items: Items, name: str) -> None:
    """Take every hold off a file (it keeps no index entry: only what the case is about is wrong)."""
    for attribute in [a for a in items[name] if a.startswith("H#")]:
        del items[name][attribute]
    items[name]["holdCount"] = 0


def held_by_ghost(items: Items, _: Objects) -> None:
    items["f3"].update({"H#ghost": 1, "holdCount": 1})
    for attribute in ("xpk", "xsk", "ttl"):
        del items["f3"][attribute]


def listed_file_not_held(items: Items, _: Objects) -> None:
    unheld(items, "f2")
    items["f2"].update({k: v for k, v in file_item("f2").items() if k in ("xpk", "xsk", "ttl")})


def missing_cart_pin(items: Items, _: Objects) -> None:
    del items["pin cart"]
    items["project"]["pinCount"] = 2


def missing_copy_pin(items: Items, _: Objects) -> None:
    del items["pin copy"]
    items["project"]["pinCount"] = 2


def stray_hold(items: Items, _: Objects) -> None:
    items["f3"].update({f"H#{PROJECT}": 1, "holdCount": 1})
    for attribute in ("xpk", "xsk", "ttl"):
        del items["f3"][attribute]


def frozen_unkept(_: Items, objects: Objects) -> None:
    key = keys.order_frozen_manifest_key(T, ORDER, PROJECT)
    objects[key] = Manifest(project_id=PROJECT, version=1, files=(ref("f1"), ref("f3")))


CASES: list[tuple[str, Callable[[Items, Objects], object], str]] = [
    (
        "a listed file with holdCount 0",
        listed_file_not_held,
        "project proj lists file f2, which is available with holdCount 0",
    ),
    (
        "the manifest holds a file the project does not",
        listed_file_not_held,
        "project proj's manifest holds file f2, which the project does not hold",
    ),
    ("a hold without its project", held_by_ghost, "file f3 is held by project ghost, which does not exist"),
    ("a hold the manifest does not name", stray_hold, "file f3 is held by project proj, whose manifest does not hold"),
    (
        "pinCount above the pins",
        lambda items, _: items["project"].update(pinCount=4),
        "project proj: pinCount 4 but 3 PIN items",
    ),
    (
        "a pin whose holder is gone",
        lambda items, _: items.pop("cart"),
        f"project proj is pinned by {CART_PK}, which does not exist",
    ),
    ("a cart item whose pin is gone", missing_cart_pin, "names pin"),
    (
        "a copy whose pin on its original is gone",
        missing_copy_pin,
        "project copy lists file f1, which nothing keeps for it",
    ),
    (
        "holdCount above the holds",
        lambda items, _: items["f1"].update(holdCount=2),
        "file f1: holdCount 2 but 1 holds and 0 links",
    ),
    (
        "a held file with a TTL",
        lambda items, _: items["f1"].update(ttl=NOW + 86400),
        "file f1 is held (holdCount 1) but has a TTL",
    ),
    (
        "a pinned project with a TTL",
        lambda items, _: items["project"].update(ttl=NOW + 86400),
        "project proj is pinned but has a TTL",
    ),
    (
        "an unheld file out of the expiry index",
        lambda items, _: items["f3"].pop("xpk"),
        "file f3 is unheld but not in the expiry index",
    ),
    ("an unheld file without its TTL", lambda items, _: items["f3"].pop("ttl"), "file f3 is unheld but has no TTL"),
    ("an order froze a file nothing keeps", frozen_unkept, "order order froze file f3, which nothing keeps for it"),
    (
        "a project's manifest is gone",
        lambda _, objects: objects.update({"m/proj": None}),
        "project proj: manifest m/proj is missing",
    ),
]


@pytest.mark.parametrize(("corrupt", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_inconsistency_is_reported(aws: Aws, corrupt: Callable[[Items, Objects], object], expected: str) -> None:
    items, objects = consistent()
    corrupt(items, objects)
    problems = write(aws, items, objects)
    assert any(expected in p for p in problems), problems
