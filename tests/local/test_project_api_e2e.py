"""The Project API over HTTP against the local stack, as a new user would try it: save, share,
copy, delete the original, cart, order, repeat, resubmit, and other tenants kept out."""

from __future__ import annotations

import io
from typing import Any

import pytest
import requests

from tests.e2e.stack import StackHandle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(shared_stack: StackHandle) -> StackHandle:
    return shared_stack  # tests/local/conftest.py: one stack per worker


def _png(color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (12, 9), color).save(buffer, "PNG")
    return buffer.getvalue()


class Client:
    """One user of the stack."""

    def __init__(self, stack: StackHandle, tenant: str, user: str) -> None:
        self.base = stack.base_url
        self.headers = {"Authorization": f"Bearer {stack.mint_token(tenant, user)}"}

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return requests.request(
            method, f"{self.base}{path}", json=body, timeout=60, headers={**self.headers, **(headers or {})}
        )

    def upload(self, data: bytes) -> str:
        created = self.call(
            "POST", "/uploads", {"filename": "p.png", "contentType": "image/png", "sizeBytes": len(data)}
        )
        assert created.status_code == 201, created.text
        upload = created.json()["upload"]
        posted = requests.post(
            upload["url"], data=upload["fields"], files={"file": ("p.png", data, "image/png")}, timeout=60
        )
        assert posted.status_code in (200, 201, 204), posted.text
        file_id = created.json()["fileId"]
        assert self.call("POST", f"/uploads/{file_id}/complete").status_code == 200
        return str(file_id)


def test_share_copy_cart_order_and_resubmit_over_http(stack: StackHandle) -> None:
    red, blue = _png((200, 0, 0)), _png((0, 0, 200))
    alice, bob, stranger = Client(stack, "t1", "alice"), Client(stack, "t1", "bob"), Client(stack, "t2", "bob")
    f_red, f_blue = alice.upload(red), alice.upload(blue)

    # Save, load, edit with versions.
    body = {"name": "Holiday", "productType": "photobook", "document": {"pages": [f_red]}, "fileIds": [f_red]}
    created = alice.call("POST", "/projects", body)
    assert created.status_code == 201, created.text
    pid = created.json()["projectId"]
    body = {**body, "document": {"pages": [f_red, f_blue]}, "fileIds": [f_red, f_blue]}
    assert alice.call("PUT", f"/projects/{pid}", body, {"If-Match": '"1"'}).status_code == 200
    assert alice.call("PUT", f"/projects/{pid}", body, {"If-Match": '"1"'}).status_code == 412

    # Share for view and for copy.
    view = alice.call("POST", f"/projects/{pid}/shares", {"mode": "view", "expiresInDays": 1}).json()
    shared = alice.call("POST", f"/projects/{pid}/shares", {"mode": "copy", "expiresInDays": 7})
    assert shared.status_code == 201, shared.text
    token = shared.json()["token"]
    seen = bob.call("GET", f"/shares/{view['token']}")
    assert seen.status_code == 200 and seen.json()["project"]["version"] == 2
    assert bob.call("POST", f"/shares/{view['token']}/copies").status_code == 403
    assert stranger.call("GET", f"/shares/{token}").status_code == 404
    copied = bob.call("POST", f"/shares/{token}/copies")
    assert copied.status_code == 201, copied.text
    copy_id = copied.json()["projectId"]

    # Cart item and order, before the original goes.
    item = alice.call("POST", "/cart-items", {"projectId": pid, "productSku": "BOOK-A4", "quantity": 1})
    assert item.status_code == 201, item.text
    cart_item_id = item.json()["cartItemId"]
    listed = alice.call("GET", "/cart-items").json()["items"]
    assert [i["cartItemId"] for i in listed] == [cart_item_id]
    order = alice.call("POST", "/orders", {"cartItemIds": [cart_item_id], "externalOrderRef": "shop-1001"})
    assert order.status_code == 201, order.text
    order_id = order.json()["orderId"]
    again = alice.call("POST", "/orders", {"cartItemIds": [cart_item_id], "externalOrderRef": "shop-1001"})
    assert again.status_code == 200 and again.json()["orderId"] == order_id

    # The original project and its files go; the copy and the order keep the images.
    assert alice.call("DELETE", f"/projects/{pid}").status_code == 204
    assert alice.call("DELETE", f"/cart-items/{cart_item_id}").status_code == 204
    assert alice.call("DELETE", f"/files/{f_red}").status_code == 409
    copy = bob.call("GET", f"/projects/{copy_id}")
    assert copy.status_code == 200
    assert requests.get(copy.json()["files"][0]["downloadUrl"], timeout=30).content == red

    resubmitted = alice.call("POST", f"/orders/{order_id}/resubmissions")
    assert resubmitted.status_code == 202, resubmitted.text
    manifest = resubmitted.json()["manifest"]
    assert [m["fileId"] for m in manifest] == [f_red, f_blue]
    assert [requests.get(m["url"], timeout=30).content for m in manifest] == [red, blue]

    # Nobody else sees any of it.
    for intruder in (bob, stranger):
        assert intruder.call("GET", f"/orders/{order_id}").status_code == 404
        assert intruder.call("POST", f"/orders/{order_id}/resubmissions").status_code == 404
        assert intruder.call("GET", f"/projects/{pid}").status_code == 404
    assert stranger.call("GET", f"/projects/{copy_id}").status_code == 404
    assert alice.call("GET", f"/projects/{copy_id}").status_code == 404
