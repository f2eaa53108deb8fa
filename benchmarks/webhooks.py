"""Webhook deliveries on the local stack (`make bench-webhooks`): how many deliveries a second one sender
sustains, and the delay from an event to its receiver (p50/p95).

Phase 1 (sender): one thread signs and POSTs events to a receiver on 127.0.0.1 with the delivery client
(imagestore.webhook_http.post, imagestore.webhook_signing) for --seconds: the work of one delivery without
the queue and the table.
Phase 2 (stack): --events webhook events are put on the stack's EventBridge (PutEvents, 10 a call) for a
tenant with one endpoint; the stack delivers them through its own path (rule -> SQS queue -> webhookDelivery:
fan-out, the event log, one delivery message per endpoint, the endpoint read, the signed POST, the attempt
logged), with ONE webhookDelivery worker (one sender; IMAGESTORE_LOCAL_CONCURRENCY). Delay: from PutEvents
to the receiver, per event. Starts its own stack (bounded), or uses --url.
Phase 4 (producer): one project deleted every --interval seconds through the API (DELETE /projects/{id}):
its `project.deleted` event goes the whole way a producer's event goes, through the outbox (the event log
item written in the deletion's transaction, the table's stream, webhookRelay, the bus, then phase 2's path).
Delay: from the DELETE's answer (the commit) to the receiver.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from imagestore import webhook_events, webhook_signing
from imagestore.webhook_http import DeliveryPolicy, post
from imagestore_local.cli import mint_token
from imagestore_local.webhook_listen import Listener, register, unregister

TENANT = "bench-webhooks"


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def sender_phase(seconds: float) -> float:
    """Deliveries a second of one thread: sign, POST, read the answer (1 KB at most)."""
    listener = Listener()
    listener.start()
    secret = listener.secret = webhook_signing.new_secret()
    policy = DeliveryPolicy(allow_loopback_http=True)
    sent, deadline = 0, time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < deadline:
        event = webhook_events.project_deleted(TENANT, "u", uuid.uuid4().hex, int(time.time()))
        body = event.model_dump_json().encode()
        result = post(
            listener.url, body, webhook_signing.signed_headers([secret], event.id, int(time.time()), body), policy
        )
        sent += result.ok
    elapsed = time.monotonic() - started
    listener.stop()
    return sent / elapsed


def _receiver(base: str, secret: str) -> tuple[Listener, dict[str, float], str, dict[str, Any]]:
    """A receiver on 127.0.0.1 registered for the bench tenant's project.deleted events: the listener, the
    arrival time of each event id (filled as they come), the webhooks-scoped token and the endpoint."""
    arrived: dict[str, float] = {}
    listener = Listener()
    listener.start()

    def on_event(event: dict[str, Any], headers: dict[str, str]) -> None:
        arrived.setdefault(event["id"], time.time())  # one dict operation: atomic under the GIL

    listener.on_event = on_event
    token = mint_token(TENANT, "bench", scope="webhooks", secret=secret)
    endpoint = register(base, token, listener.url, ["project.deleted"])
    listener.secret = endpoint["secret"]
    return listener, arrived, token, endpoint


def _finish(
    base: str,
    listener: Listener,
    arrived: dict[str, float],
    token: str,
    endpoint: dict[str, Any],
    sent_at: dict[str, float],
    first: float,
    timeout: float,
) -> dict[str, Any]:
    """Wait (bounded) for every event of sent_at, unregister, and the figures: delay from sent_at to arrival."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(i in arrived for i in list(sent_at)):
        time.sleep(0.05)
    unregister(base, token, endpoint["endpointId"])
    listener.stop()
    delays = [arrived[i] - sent_at[i] for i in sent_at if i in arrived]
    last = max((arrived[i] for i in sent_at if i in arrived), default=first)
    return {
        "events": len(sent_at),
        "delivered": len(delays),
        "rejected": listener.rejected,
        "deliveries_per_s": len(delays) / max(1e-9, last - first),
        "p50_delay_ms": statistics.median(delays) * 1000 if delays else float("nan"),
        "p95_delay_ms": p(delays, 0.95) * 1000,
        "max_delay_ms": max(delays, default=float("nan")) * 1000,
    }


def stack_phase(base: str, secret: str, count: int, timeout: float, interval: float = 0.0) -> dict[str, Any]:
    """count events (10 a PutEvents, or one every `interval` seconds), then wait for all of them."""
    listener, arrived, token, endpoint = _receiver(base, secret)
    # Warm-up: one event through the whole path (the functions' first invocations are cold starts).
    warm = webhook_events.project_deleted(TENANT, "u", "warm-" + uuid.uuid4().hex, int(time.time()))
    _put(base, [warm])
    deadline = time.monotonic() + timeout
    while warm.id not in arrived and time.monotonic() < deadline:
        time.sleep(0.05)
    put_at: dict[str, float] = {}
    first = time.time()
    step = 1 if interval else 10
    for start in range(0, count, step):
        events = [
            webhook_events.project_deleted(TENANT, "u", uuid.uuid4().hex, int(time.time()))
            for _ in range(min(step, count - start))
        ]
        now = time.time()
        _put(base, events)
        put_at.update({e.id: now for e in events})
        if interval:
            time.sleep(interval)
    return _finish(base, listener, arrived, token, endpoint, put_at, first, timeout)


def producer_phase(base: str, secret: str, count: int, timeout: float, interval: float) -> dict[str, Any]:
    """count projects created, then deleted one every `interval` seconds; each deletion's project.deleted
    event (its id is stable: imagestore.models.webhooks.event_id) timed from the DELETE's answer."""
    listener, arrived, admin, endpoint = _receiver(base, secret)
    auth = {"Authorization": f"Bearer {mint_token(TENANT, 'producer', secret=secret)}"}
    projects = []
    for i in range(count + 1):  # the first one warms the path (cold starts of the functions on it)
        made = requests.post(
            f"{base}/projects", json={"name": f"b{i}", "productType": "book"}, headers=auth, timeout=60
        )
        made.raise_for_status()
        projects.append(made.json()["projectId"])

    def delete(project_id: str) -> tuple[str, float]:
        answer = requests.delete(f"{base}/projects/{project_id}", headers=auth, timeout=60)
        answer.raise_for_status()
        return webhook_events.project_deleted(TENANT, "producer", project_id, 0).id, time.time()

    warm_id, _ = delete(projects[0])
    deadline = time.monotonic() + timeout
    while warm_id not in arrived and time.monotonic() < deadline:
        time.sleep(0.05)
    committed: dict[str, float] = {}
    first = time.time()
    for project_id in projects[1:]:
        event, at = delete(project_id)
        committed[event] = at
        time.sleep(interval)
    return _finish(base, listener, arrived, admin, endpoint, committed, first, timeout)


def _put(base: str, events: list[Any]) -> None:
    answer = requests.post(
        f"{base}/_local/events",
        timeout=30,
        json={
            "Entries": [
                {
                    "Source": "imagestore.webhooks",
                    "DetailType": e.type,
                    "Detail": e.model_dump_json(),
                    "EventBusName": "default",
                }
                for e in events
            ]
        },
    )
    answer.raise_for_status()
    if answer.json().get("FailedEntryCount"):
        raise RuntimeError(answer.text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="phase 1 length")
    parser.add_argument("--events", type=int, default=500, help="phase 2 events")
    parser.add_argument("--paced", type=int, default=40, help="phase 3 events, one every --interval seconds")
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--produced", type=int, default=40, help="phase 4 projects deleted, one every --interval")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--url", default=None, help="a running stack (its webhookDelivery concurrency as started)")
    args = parser.parse_args(argv)
    rate = sender_phase(args.seconds)
    print(f"phase 1, one sender thread (sign + POST + read), 127.0.0.1 receiver: {rate:.0f} deliveries/s")
    if args.url:
        import os

        secret = os.environ.get("IMAGESTORE_JWT_SECRET", "")
        result = stack_phase(args.url.rstrip("/"), secret, args.events, args.timeout)
        paced = stack_phase(args.url.rstrip("/"), secret, args.paced, args.timeout, args.interval)
        produced = producer_phase(args.url.rstrip("/"), secret, args.produced, args.timeout, args.interval)
    else:
        from tests.e2e.stack import running_stack

        secret = uuid.uuid4().hex * 2
        with (
            tempfile.TemporaryDirectory(prefix="imagestore-bench-webhooks-") as data,
            running_stack(
                Path(data),
                extra_env={
                    "IMAGESTORE_JWT_SECRET": secret,
                    "IMAGESTORE_LOCAL_ACCESS_LOG": "0",
                    "IMAGESTORE_LOCAL_CONCURRENCY": "4,project/webhookDelivery=1",
                },
                timeout=180,
            ) as stack,
        ):
            result = stack_phase(stack.base_url, secret, args.events, args.timeout)
            paced = stack_phase(stack.base_url, secret, args.paced, args.timeout, args.interval)
            produced = producer_phase(stack.base_url, secret, args.produced, args.timeout, args.interval)
    print(
        f"phase 2, a burst of {args.events} events, the stack's path with one webhookDelivery worker: "
        + json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()})
    )
    print(
        f"phase 3, one event every {args.interval} s (no backlog): "
        + json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in paced.items()})
    )
    print(
        f"phase 4, a project deleted every {args.interval} s, its event through the outbox (stream, relay, bus): "
        + json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in produced.items()})
    )
    runs = (result, paced, produced)
    return 0 if all(r["delivered"] == r["events"] and not r["rejected"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
