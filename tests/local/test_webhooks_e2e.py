"""Webhooks against the local stack, over HTTP, as issue 30's done-when reads: a receiver registered for a
tenant gets file.ready after an upload and order.placed after an order, each verified by the standardwebhooks
library; while the receiver is down deliveries are retried and arrive once it is back; a replay delivers the
same event id again; endpoints on 10.0.0.1 or 169.254.169.254 are refused. The stack's own delivery path:
EventBridge rule -> its SQS queue (redrive, visibility timeouts) -> the webhookDelivery function."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from imagestore_local.webhook_listen import Listener, register
from tests.e2e.stack import StackHandle
from tests.local.test_project_api_e2e import Client, _png

pytestmark = pytest.mark.e2e

# A tenant of its own on the shared stack: its endpoint gets no other test's events.
TENANT = "webhooks-e2e"


@pytest.fixture(scope="module")
def stack(shared_stack: StackHandle) -> StackHandle:
    return shared_stack  # tests/local/conftest.py: one stack per worker


class Received:
    """What a listener got: each body and headers, verified again here with the reference library."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], headers: dict[str, str]) -> None:
        self.events.append({**event, "_headers": headers})

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events if match(e)]
            if found:
                return found[-1]
            time.sleep(0.2)
        raise AssertionError(f"no matching event in {timeout} s; got {[e['type'] for e in self.events]}")


def listen(received: Received, secret: str = "", port: int = 0) -> Listener:
    listener = Listener(port)
    listener.secret = secret
    listener.on_event = received
    listener.start()
    return listener


def set_faults(url: str, spec: str) -> None:
    assert requests.post(url, json={"spec": spec}, timeout=10).status_code == 200


def test_a_registered_receiver_gets_verified_events_retries_and_replays(stack: StackHandle) -> None:
    shop_token = stack.mint_token(TENANT, "shop", scope="webhooks")
    shop = {"Authorization": f"Bearer {shop_token}"}
    base = stack.base_url
    for unsafe in ("https://10.0.0.1/hooks", "https://169.254.169.254/latest/meta-data/"):
        refused = requests.post(f"{base}/webhooks/endpoints", json={"url": unsafe}, headers=shop, timeout=60)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "unprocessable"

    received = Received()
    listener = listen(received)
    endpoint = register(base, shop_token, listener.url)
    listener.secret = secret = endpoint["secret"]
    alice = Client(stack, TENANT, "alice")

    # An upload: file.ready once its previews are made.
    file_id = alice.upload(_png((200, 0, 0)))
    ready = received.wait_for(lambda e: e["type"] == "file.ready" and e["data"]["fileId"] == file_id)
    assert ready["tenantId"] == TENANT and ready["_headers"]["webhook-id"] == ready["id"]

    # An order: order.placed.
    project = alice.call(
        "POST", "/projects", {"name": "B", "productType": "photobook", "document": {}, "fileIds": [file_id]}
    ).json()
    cart = alice.call(
        "POST", "/cart-items", {"projectId": project["projectId"], "productSku": "BOOK", "quantity": 1}
    ).json()
    order = alice.call("POST", "/orders", {"cartItemIds": [cart["cartItemId"]], "externalOrderRef": "shop-1"})
    assert order.status_code == 201, order.text
    placed = received.wait_for(lambda e: e["type"] == "order.placed")
    assert placed["data"]["orderId"] == order.json()["orderId"]

    # The outbox: the orders function dies right after the transaction that places the order commits
    # (nothing after it runs; the client gets a 502). The event was committed with the order: the
    # table's stream hands it to webhookRelay, and the receiver gets it.
    faults = f"{base}/_local/faults"
    again = alice.call("POST", "/cart-items", {"projectId": project["projectId"], "productSku": "B", "quantity": 1})
    set_faults(faults, "kill_after=TransactWriteItems,kill_in=-orders")
    try:
        died = alice.call(
            "POST", "/orders", {"cartItemIds": [again.json()["cartItemId"]], "externalOrderRef": "shop-2"}
        )
    finally:
        set_faults(faults, "")
    assert died.status_code == 502, died.text
    killed = received.wait_for(
        lambda e: e["type"] == "order.placed" and e["data"]["externalOrderRef"] == "shop-2", timeout=60
    )
    # The relay dies after reading the event and before PutEvents: the stream batch is retried.
    before = requests.get(faults, timeout=10).json()["injected"].get("kill_after", 0)
    refs = alice.call("POST", "/cart-items", {"projectId": project["projectId"], "productSku": "C", "quantity": 1})
    set_faults(faults, "kill_after=BatchGetItem,kill_in=-webhookRelay")
    try:
        third = alice.call(
            "POST", "/orders", {"cartItemIds": [refs.json()["cartItemId"]], "externalOrderRef": "shop-3"}
        )
        assert third.status_code == 201, third.text
        deadline = time.monotonic() + 30
        while requests.get(faults, timeout=10).json()["injected"].get("kill_after", 0) <= before:
            assert time.monotonic() < deadline, "the relay was not killed"
            time.sleep(0.2)
    finally:
        set_faults(faults, "")
    received.wait_for(lambda e: e["type"] == "order.placed" and e["data"]["externalOrderRef"] == "shop-3")
    assert killed["data"]["orderId"] != placed["data"]["orderId"]

    # The receiver goes down; a project is deleted meanwhile; its event arrives once the receiver is back.
    port = int(listener.url.rsplit(":", 1)[1].split("/")[0])
    listener.stop()
    assert alice.call("DELETE", f"/projects/{project['projectId']}").status_code == 204
    attempts_url = f"{base}/webhooks/endpoints/{endpoint['endpointId']}/attempts"
    deadline = time.monotonic() + 60
    while not any(not a["ok"] for a in requests.get(attempts_url, headers=shop, timeout=30).json()["items"]):
        assert time.monotonic() < deadline, "no failed attempt logged while the receiver was down"
        time.sleep(0.5)
    listener = listen(received, secret, port)
    deleted = received.wait_for(lambda e: e["type"] == "project.deleted")
    assert deleted["data"]["projectId"] == project["projectId"]
    log = requests.get(attempts_url, headers=shop, timeout=30).json()["items"]
    tries = [a for a in log if a["eventId"] == deleted["id"]]
    assert tries[0]["ok"] and tries[0]["attempt"] >= 2 and not tries[-1]["ok"]
    assert tries[-1]["error"].startswith("connection failed")

    # A replay: the same event id again.
    before = sum(1 for e in received.events if e["id"] == placed["id"])
    replay = requests.post(
        f"{base}/webhooks/endpoints/{endpoint['endpointId']}/replays",
        json={"eventId": placed["id"]},
        headers=shop,
        timeout=30,
    )
    assert replay.status_code == 202 and replay.json()["eventIds"] == [placed["id"]]
    deadline = time.monotonic() + 60
    while sum(1 for e in received.events if e["id"] == placed["id"]) == before:
        assert time.monotonic() < deadline, "the replayed event did not arrive"
        time.sleep(0.2)
    listener.stop()

    # The listener hands on only what the reference library verified (standardwebhooks.Webhook.verify):
    # nothing was rejected.
    assert listener.rejected == 0
    assert all(e["_headers"]["webhook-signature"].startswith("v1,") for e in received.events)
