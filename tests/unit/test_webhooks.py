"""Webhook signatures (checked by the standardwebhooks reference library), the URL and address policy,
the delivery client's limits, event ids and the retry schedule."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from imagestore import webhook_signing
from imagestore.models.webhooks import event_id
from imagestore.webhook_http import DeliveryPolicy, EndpointRefused, check_endpoint_url, post
from project_service.logic.webhook_delivery import MAX_ATTEMPTS, backoff_seconds, retry_schedule

PUBLIC = "93.184.215.14"


def resolver_to(*addresses: str):
    return lambda host, port: list(addresses)


def test_a_signature_verifies_with_the_reference_library() -> None:
    secret = webhook_signing.new_secret()
    body = b'{"id":"evt_1","type":"file.ready"}'
    headers = webhook_signing.signed_headers([secret], "evt_1", int(time.time()), body)
    assert secret.startswith("whsec_") and headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == {"id": "evt_1", "type": "file.ready"}
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_during_a_rotation_both_secrets_verify() -> None:
    old, new = webhook_signing.new_secret(), webhook_signing.new_secret()
    body = b'{"a":1}'
    headers = webhook_signing.signed_headers([new, old], "evt_2", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers) == {"a": 1}
    assert Webhook(new).verify(body, headers) == {"a": 1}


def test_event_ids_are_stable_per_happening_and_tenant() -> None:
    assert event_id("t1", "order.placed", "o1") == event_id("t1", "order.placed", "o1")
    assert event_id("t1", "order.placed", "o1") != event_id("t2", "order.placed", "o1")
    assert event_id("t1", "order.placed", "o1") != event_id("t1", "order.placed", "o2")


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://[::ffff:10.0.0.1]/x",
        "https://192.168.1.10/x",
        "https://100.64.0.1/x",
        "https://0.0.0.0/x",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(url: str) -> None:
    with pytest.raises(EndpointRefused):
        check_endpoint_url(url, DeliveryPolicy(allow_loopback_http=True))


@pytest.mark.parametrize("resolved", [["10.0.0.1"], ["169.254.169.254"], [PUBLIC, "10.1.2.3"], []])
def test_a_name_resolving_to_a_private_address_is_refused(resolved: list[str]) -> None:
    with pytest.raises(EndpointRefused):
        check_endpoint_url("https://shop.example/hook", DeliveryPolicy(), resolver_to(*resolved))


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/hook",
        "http://127.0.0.1:8080/hook",
        "ftp://shop.example/",
        "https://user:pw@shop.example/",
        "https://shop.example/#frag",
        "shop.example/hook",
        "https:///nohost",
    ],
)
def test_only_https_urls_without_credentials(url: str) -> None:
    with pytest.raises(EndpointRefused):
        check_endpoint_url(url, DeliveryPolicy(), resolver_to(PUBLIC))


def test_plain_http_only_to_127_0_0_1_on_the_local_stage() -> None:
    local = DeliveryPolicy(allow_loopback_http=True)
    assert check_endpoint_url("http://127.0.0.1:8080/hook", local) == "http://127.0.0.1:8080/hook"
    with pytest.raises(EndpointRefused):
        check_endpoint_url("http://localhost:8080/hook", local, resolver_to("127.0.0.1"))
    with pytest.raises(EndpointRefused):
        check_endpoint_url("http://10.0.0.1/hook", local)
    assert check_endpoint_url("https://shop.example/hook", local, resolver_to(PUBLIC))


class _Receiver(http.server.BaseHTTPRequestHandler):
    mode = "ok"
    seen: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(body)
        if self.mode == "slow":
            time.sleep(1.5)
        if self.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        if self.mode == "big":
            self.wfile.write(b"x" * 1_000_000)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"mode": "ok", "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


LOCAL = DeliveryPolicy(allow_loopback_http=True)


def test_a_delivery_posts_the_signed_body(receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    result = post(url, b'{"x":1}', {"webhook-id": "evt_1"}, LOCAL)
    assert result.ok and result.status == 200 and handler.seen == [b'{"x":1}']


def test_redirects_are_not_followed(receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    handler.mode = "redirect"
    result = post(url, b"{}", {}, LOCAL)
    assert not result.ok and result.status == 302 and result.error == "answered 302"


def test_at_most_1_kb_of_the_answer_is_read(receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    handler.mode = "big"
    result = post(url, b"{}", {}, LOCAL)
    assert result.ok and result.latency_ms < 5000


def test_the_timeout_bounds_the_exchange(receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    handler.mode = "slow"
    result = post(url, b"{}", {}, DeliveryPolicy(allow_loopback_http=True, timeout_seconds=0.5))
    assert not result.ok and result.error is not None and result.error.startswith("timeout")


def test_a_delivery_to_a_name_now_resolving_privately_is_refused_without_connecting() -> None:
    result = post("https://shop.example/hook", b"{}", {}, DeliveryPolicy(), resolver_to("169.254.169.254"))
    assert not result.ok and result.status is None and result.error is not None and result.error.startswith("refused")


def test_backoff_is_exponential_and_retries_last_over_24_hours() -> None:
    assert [backoff_seconds(n, 30) for n in (1, 2, 3)] == [30, 90, 270]
    assert backoff_seconds(20, 30) == 43200  # SQS's longest visibility timeout
    schedule = retry_schedule(30)
    assert len(schedule) == MAX_ATTEMPTS
    assert schedule[-1] >= 24 * 3600
    assert json.dumps(schedule)
