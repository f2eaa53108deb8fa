"""Webhooks in-process against moto (DynamoDB, EventBridge with the template's rule, SQS with its redrive):
registration, events from the producers, signed deliveries verified by the standardwebhooks library,
retries by visibility timeout, the delivery log, replays, rotation, disabling, tenant isolation."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from imagestore.auth import Principal
from imagestore_local.sqs import sqs_event
from tests.conftest import REGION, TABLE, Aws
from tests.service.test_orders import ALICE, add_to_cart, place, save
from tests.support.events import LambdaContext, api_event, call
from tests.support.files import stored_file
from tests.support.table_stream import StreamReader

SHOP = Principal("shop-a", "shop-backend", "s0", ("webhooks",))
OTHER_SHOP = Principal("shop-b", "shop-backend", "s0", ("webhooks",))


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)  # statuses to answer, in turn; then 204
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every delivery, verified by the Standard Webhooks reference library."""
        return [Webhook(secret).verify(body, headers) for headers, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = state.answers.pop(0) if state.answers else 204
            if status < 300:
                state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Queue:
    sqs: Any
    url: str
    arn: str
    dlq_url: str
    handler: Any
    relay: StreamReader

    def pump(self, rounds: int = 3) -> int:
        """Hand the table's new stream records to webhookRelay (the outbox: events written with their
        change go on the bus), then run the delivery function on what is visible, as Lambda's SQS event
        source does (delete what it did not report failed); returns how many messages it got."""
        seen = 0
        for _ in range(rounds):
            self.relay.deliver()
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
                "Messages", []
            )
            if not messages:
                break
            seen += len(messages)
            result = self.handler(sqs_event(self.arn, REGION, messages), LambdaContext())
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            for message in messages:
                if message["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return seen


@pytest.fixture
def queue(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Queue:
    import boto3

    from imagestore.data import factory

    sqs, events = boto3.client("sqs", region_name=REGION), boto3.client("events", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName="webhooks-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="webhooks",
        Attributes={
            "VisibilityTimeout": "180",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10"}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="webhooks", EventPattern=json.dumps({"source": ["imagestore.webhooks"]}))
    events.put_targets(Rule="webhooks", Targets=[{"Id": "webhook-queue", "Arn": arn}])
    monkeypatch.setenv("IMAGESTORE_WEBHOOK_QUEUE_URL", url)
    monkeypatch.setenv("IMAGESTORE_STAGE", "local")  # plain http to 127.0.0.1 (the receiver)
    monkeypatch.setenv("IMAGESTORE_WEBHOOK_RETRY_BASE_SECONDS", "1")
    factory.reset()
    from project_service.handlers.webhook_delivery import handler
    from project_service.handlers.webhook_relay import handler as relay

    return Queue(sqs, url, arn, dlq_url, handler, StreamReader(aws.dynamodb, TABLE, "project", "webhookRelay", relay))


@pytest.fixture
def webhooks(aws: Aws) -> Any:
    from project_service.handlers.webhooks import handler

    return handler


def register(webhooks: Any, url: str, principal: Principal = SHOP, **extra: Any) -> tuple[int, Any]:
    return call(webhooks, api_event("POST", "/webhooks/endpoints", principal=principal, body={"url": url, **extra}))


def endpoint_call(
    webhooks: Any,
    method: str,
    suffix: str,
    endpoint_id: str,
    principal: Principal = SHOP,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    return call(
        webhooks,
        api_event(
            method,
            "/webhooks/endpoints/{endpointId}" + suffix,
            principal=principal,
            path_params={"endpointId": endpoint_id},
            body=body,
            query=query,
        ),
    )


def delete_project(projects: Any, project_id: str) -> None:
    status, _ = call(
        projects, api_event("DELETE", "/projects/{projectId}", principal=ALICE, path_params={"projectId": project_id})
    )
    assert status == 204


def test_only_a_webhooks_scoped_token_manages_endpoints(webhooks: Any, queue: Queue, receiver: Receiver) -> None:
    status, body = register(webhooks, receiver.url, principal=ALICE)
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, created = register(webhooks, receiver.url, eventTypes=["order.placed"])
    assert status == 201 and created["secret"].startswith("whsec_") and created["eventTypes"] == ["order.placed"]
    status, listed = call(webhooks, api_event("GET", "/webhooks/endpoints", principal=SHOP))
    assert status == 200 and [e["endpointId"] for e in listed["items"]] == [created["endpointId"]]
    assert "secret" not in listed["items"][0]
    assert endpoint_call(webhooks, "GET", "", created["endpointId"], principal=OTHER_SHOP)[0] == 404
    assert endpoint_call(webhooks, "DELETE", "", created["endpointId"], principal=OTHER_SHOP)[0] == 404
    assert endpoint_call(webhooks, "DELETE", "", created["endpointId"])[0] == 204
    assert endpoint_call(webhooks, "GET", "", created["endpointId"])[0] == 404


def test_unsafe_endpoints_are_refused_at_registration(webhooks: Any, queue: Queue) -> None:
    for url in (
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "http://shop.example/hook",
        "https://[::1]/hook",
        "http://10.0.0.1/hook",
    ):
        status, body = register(webhooks, url)
        assert status == 422 and body["error"]["code"] == "unprocessable", url
    assert register(webhooks, "not a url")[0] == 422
    assert call(webhooks, api_event("GET", "/webhooks/endpoints", principal=SHOP))[1]["items"] == []


def test_a_deleted_project_reaches_the_receiver_signed(
    webhooks: Any, queue: Queue, receiver: Receiver, projects: Any
) -> None:
    _, created = register(webhooks, receiver.url)
    _, other = register(webhooks, receiver.url, principal=OTHER_SHOP)
    project = save(projects, [])
    delete_project(projects, project["projectId"])
    assert queue.pump() == 2  # the bus's event (fan-out), then one delivery
    [event] = receiver.verified(created["secret"])
    assert event["type"] == "project.deleted" and event["tenantId"] == "shop-a"
    assert event["data"] == {"projectId": project["projectId"], "userId": "alice"}
    assert receiver.received[0][0]["webhook-id"] == event["id"]
    with pytest.raises(Exception, match="signature"):
        Webhook(other["secret"]).verify(receiver.received[0][1], receiver.received[0][0])
    status, log = endpoint_call(webhooks, "GET", "/attempts", created["endpointId"])
    assert status == 200
    [attempt] = log["items"]
    assert attempt["ok"] and attempt["status"] == 204 and attempt["eventId"] == event["id"] and attempt["attempt"] == 1
    assert endpoint_call(webhooks, "GET", "/attempts", other["endpointId"], principal=OTHER_SHOP)[1]["items"] == []


def test_an_order_sends_order_placed_with_a_stable_id(
    webhooks: Any, queue: Queue, receiver: Receiver, projects: Any, carts: Any, orders: Any
) -> None:
    _, created = register(webhooks, receiver.url, eventTypes=["order.placed"])
    file = stored_file(ALICE)
    project = save(projects, [file.file_id])
    cart_item = add_to_cart(carts, project["projectId"])
    status, order = place(orders, [cart_item], ref="shop-1001")
    assert status == 201
    # A repeat places nothing and writes no event: the first one was committed with the order.
    assert place(orders, [cart_item], ref="shop-1001")[0] == 200
    queue.pump()
    events = receiver.verified(created["secret"])
    assert [e["type"] for e in events] == ["order.placed"]
    assert events[0]["data"]["orderId"] == order["orderId"]
    assert events[0]["data"]["externalOrderRef"] == "shop-1001"
    assert events[0]["data"]["links"]["order"].endswith(f"/orders/{order['orderId']}")


def test_a_failed_delivery_is_retried_after_its_backoff(
    webhooks: Any, queue: Queue, receiver: Receiver, projects: Any
) -> None:
    _, created = register(webhooks, receiver.url)
    receiver.answers = [503]
    delete_project(projects, save(projects, [])["projectId"])
    queue.pump()
    assert receiver.received == []
    endpoint = endpoint_call(webhooks, "GET", "", created["endpointId"])[1]
    assert endpoint["failingSince"] is not None
    assert queue.pump(rounds=1) == 0  # hidden for its backoff (1 s here: IMAGESTORE_WEBHOOK_RETRY_BASE_SECONDS)
    time.sleep(1.2)
    queue.pump()
    [event] = receiver.verified(created["secret"])
    log = endpoint_call(webhooks, "GET", "/attempts", created["endpointId"])[1]["items"]
    assert [(a["attempt"], a["ok"], a["status"]) for a in log] == [(2, True, 204), (1, False, 503)]
    assert log[1]["error"] == "answered 503" and log[0]["eventId"] == event["id"]
    assert endpoint_call(webhooks, "GET", "", created["endpointId"])[1]["failingSince"] is None


def test_a_replay_delivers_the_same_event_id_again(
    webhooks: Any, queue: Queue, receiver: Receiver, projects: Any
) -> None:
    _, created = register(webhooks, receiver.url)
    delete_project(projects, save(projects, [])["projectId"])
    queue.pump()
    [first] = receiver.verified(created["secret"])
    status, replay = endpoint_call(webhooks, "POST", "/replays", created["endpointId"], body={"eventId": first["id"]})
    assert status == 202 and replay["eventIds"] == [first["id"]]
    queue.pump()
    status, ranged = endpoint_call(
        webhooks, "POST", "/replays", created["endpointId"], body={"since": "2000-01-01T00:00:00Z"}
    )
    assert status == 202 and ranged["eventIds"] == [first["id"]] and not ranged["truncated"]
    queue.pump()
    assert [e["id"] for e in receiver.verified(created["secret"])] == [first["id"]] * 3
    log = endpoint_call(webhooks, "GET", "/attempts", created["endpointId"])[1]["items"]
    assert [a["replay"] for a in log] == [True, True, False]
    unknown = endpoint_call(webhooks, "POST", "/replays", created["endpointId"], body={"eventId": "evt_" + "0" * 32})
    assert unknown[0] == 404
    assert endpoint_call(webhooks, "POST", "/replays", created["endpointId"], body={})[0] == 400
    assert (
        endpoint_call(
            webhooks, "POST", "/replays", created["endpointId"], principal=OTHER_SHOP, body={"eventId": first["id"]}
        )[0]
        == 404
    )


def test_after_a_rotation_deliveries_verify_with_the_old_and_the_new_secret(
    webhooks: Any, queue: Queue, receiver: Receiver, projects: Any
) -> None:
    _, created = register(webhooks, receiver.url)
    status, rotated = endpoint_call(webhooks, "POST", "/secret-rotations", created["endpointId"])
    assert status == 201 and rotated["secret"] != created["secret"]
    delete_project(projects, save(projects, [])["projectId"])
    queue.pump()
    assert receiver.verified(created["secret"]) == receiver.verified(rotated["secret"])
    assert len(receiver.received) == 1


def test_an_endpoint_failing_past_the_limit_is_disabled(
    webhooks: Any, queue: Queue, receiver: Receiver, projects: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagestore.data import factory

    monkeypatch.setenv("IMAGESTORE_WEBHOOK_DISABLE_AFTER_SECONDS", "1")
    factory.reset()
    _, created = register(webhooks, receiver.url)
    receiver.answers = [500, 500]
    delete_project(projects, save(projects, [])["projectId"])
    queue.pump()
    time.sleep(2.1)  # the backoff, and past the 1 s the endpoint may fail
    queue.pump()
    status, endpoint = endpoint_call(webhooks, "GET", "", created["endpointId"])
    assert endpoint["status"] == "disabled" and endpoint["disabledAt"] is not None
    assert queue.pump() == 0  # the message is done: nothing is sent to a disabled endpoint
    status, enabled = endpoint_call(webhooks, "POST", "/enable", created["endpointId"])
    assert status == 200 and enabled["status"] == "enabled" and enabled["failingSince"] is None


def test_refusals_phone_uploads_and_resubmissions_send_their_events(
    webhooks: Any,
    queue: Queue,
    receiver: Receiver,
    projects: Any,
    carts: Any,
    orders: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from file_service.handlers import uploads
    from tests.service.test_file_api import _uploaded_over_the_pixel_limit, complete
    from tests.service.test_mobile_uploads import open_mobile_upload, phone_of, phone_upload
    from tests.support.images import jpeg

    _, created = register(
        webhooks, receiver.url, eventTypes=["file.refused", "mobile_upload.file_added", "order.resubmitted"]
    )
    _, ticket = _uploaded_over_the_pixel_limit(monkeypatch, uploads.handler)
    assert complete(uploads.handler, ticket["fileId"])[0] == 422
    mobile = open_mobile_upload(ALICE)
    # 400 pixels: under the 1,000-pixel limit set above.
    added = phone_upload({"uploads": uploads.handler}, phone_of(mobile), jpeg((20, 20)))
    project = save(projects, [stored_file(ALICE).file_id])
    _, order = place(orders, [add_to_cart(carts, project["projectId"])], ref="shop-2002")
    status, resubmission = call(
        orders,
        api_event(
            "POST", "/orders/{orderId}/resubmissions", principal=ALICE, path_params={"orderId": order["orderId"]}
        ),
    )
    assert status == 202
    queue.pump(rounds=5)
    events = {e["type"]: e for e in receiver.verified(created["secret"])}
    # order.placed is not among the endpoint's types.
    assert set(events) == {"file.refused", "mobile_upload.file_added", "order.resubmitted"}
    assert events["file.refused"]["data"]["fileId"] == ticket["fileId"]
    assert events["file.refused"]["data"]["code"] == "unprocessable"
    assert events["mobile_upload.file_added"]["data"] == {
        "mobileUploadId": mobile.mobile_upload_id,
        "fileId": added["fileId"],
        "userId": "alice",
        "links": events["mobile_upload.file_added"]["data"]["links"],
    }
    assert events["order.resubmitted"]["data"]["resubmissionId"] == resubmission["resubmissionId"]
    assert "manifestUrl" not in events["order.resubmitted"]["data"]  # no presigned URL in a payload


def test_a_delivery_failing_every_attempt_is_dead_lettered_and_an_endpoint_failing_for_days_is_disabled(
    webhooks: Any,
    queue: Queue,
    receiver: Receiver,
    projects: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The production limits (10 receives, 5 days), with the backoff's waits left out (each retry at once:
    the schedule itself is tests/unit/test_webhooks.py's) and the clock moved instead of waited for."""
    from project_service.logic import webhook_delivery

    monkeypatch.setattr(webhook_delivery, "backoff_seconds", lambda attempt, base: 0)
    _, created = register(webhooks, receiver.url)
    receiver.answers = [500] * 100
    delete_project(projects, save(projects, [])["projectId"])
    queue.pump(rounds=20)
    # Ten failed attempts (the queue's maxReceiveCount), then SQS moved the message to the DLQ.
    log = endpoint_call(webhooks, "GET", "/attempts", created["endpointId"], query={"limit": "50"})[1]["items"]
    assert [a["attempt"] for a in log] == list(range(10, 0, -1)) and not any(a["ok"] for a in log)
    [dead] = queue.sqs.receive_message(QueueUrl=queue.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    body = json.loads(dead["Body"])
    assert body["endpointId"] == created["endpointId"] and body["event"]["type"] == "project.deleted"
    endpoint = endpoint_call(webhooks, "GET", "", created["endpointId"])[1]
    assert endpoint["status"] == "enabled" and endpoint["failingSince"] is not None  # failing, not for days yet

    # Five days later (the clock moved), the next failure disables the endpoint: the metric says so, its
    # message is done (dropped, not dead-lettered) and nothing more is sent to it.
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(5 * 86400 + 60))
    capsys.readouterr()
    delete_project(projects, save(projects, [])["projectId"])
    queue.pump(rounds=5)
    endpoint = endpoint_call(webhooks, "GET", "", created["endpointId"])[1]
    assert endpoint["status"] == "disabled" and endpoint["disabledAt"] is not None
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"WebhookEndpointsDisabled"' in line
    ]
    assert [m["WebhookEndpointsDisabled"] for m in emitted if m["WebhookEndpointsDisabled"] != [0.0]] == [[1.0]]
    assert queue.pump(rounds=2) == 0
    assert queue.sqs.receive_message(QueueUrl=queue.dlq_url, MaxNumberOfMessages=10).get("Messages", []) == []
    assert (
        len(endpoint_call(webhooks, "GET", "/attempts", created["endpointId"], query={"limit": "50"})[1]["items"]) == 11
    )
