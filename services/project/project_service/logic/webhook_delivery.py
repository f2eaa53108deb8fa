"""Webhook delivery, at least once: the queue's messages are either an event from the bus (fan out: one
message per subscribed endpoint) or one delivery (sign, POST, log the attempt). A
failed delivery stays in the queue, hidden for an exponentially longer time each attempt (its visibility
timeout); after MAX_ATTEMPTS (the queue's maxReceiveCount) SQS moves it to the dead-letter queue. An
endpoint that has failed without one success for disable_after_seconds is disabled."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from imagestore import ids, webhook_signing
from imagestore.data.webhooks import WebhookQueue, WebhookStore
from imagestore.models.webhooks import AttemptRecord, WebhookEvent
from imagestore.observability import logger
from imagestore.webhook_http import DeliveryPolicy, Resolver, post, system_resolver

MAX_VISIBILITY_SECONDS = 43200  # SQS's longest visibility timeout (12 h)
BACKOFF_FACTOR = 3
# The queue's redrive policy (maxReceiveCount in services/project/serverless.yml): with the default 30 s
# base, attempt 10 comes 33 hours after the first (retry_schedule), then the message goes to the DLQ.
MAX_ATTEMPTS = 10


def backoff_seconds(attempt: int, base: int) -> int:
    """How long a message stays hidden after its attempt-th failed delivery: base * 3^(attempt-1), at most 12 h."""
    return int(min(base * BACKOFF_FACTOR ** max(0, attempt - 1), MAX_VISIBILITY_SECONDS))


def retry_schedule(base: int, attempts: int = MAX_ATTEMPTS) -> list[int]:
    """Seconds from the first attempt to each attempt (the first at 0)."""
    at, schedule = 0, [0]
    for attempt in range(1, attempts):
        at += backoff_seconds(attempt, base)
        schedule.append(at)
    return schedule


@dataclass(frozen=True)
class DeliveryContext:
    store: WebhookStore
    queue: WebhookQueue
    policy: DeliveryPolicy
    retry_base_seconds: int
    disable_after_seconds: int
    resolver: Resolver = system_resolver


@dataclass(frozen=True)
class Outcome:
    """What became of one queue message: done (delete it) or retry after retry_in seconds."""

    done: bool
    retry_in: int = 0
    disabled: bool = False
    fanned_out: int = 0
    delivered: bool = False


def fan_out(event: WebhookEvent, ctx: DeliveryContext, now: int) -> Outcome:
    """Queue one delivery per enabled endpoint subscribed to the event's type (the event is in the event
    log already: its producer wrote it there). Run again (a failed send), it sends them again: duplicates
    carry the same webhook-id."""
    targets = [e for e in ctx.store.endpoints(event.tenantId) if e.subscribed(event.type)]
    ctx.queue.send([{"endpointId": e.endpointId, "event": event.model_dump(mode="json")} for e in targets])
    logger.info("webhook event fanned out", event_id=event.id, type=event.type, endpoints=len(targets))
    return Outcome(done=True, fanned_out=len(targets))


def deliver(
    event: WebhookEvent, endpoint_id: str, attempt: int, replay: bool, ctx: DeliveryContext, now: int
) -> Outcome:
    """One attempt to deliver event to the endpoint; the attempt is logged. An endpoint that is gone or
    disabled takes nothing (done)."""
    endpoint = ctx.store.endpoint(event.tenantId, endpoint_id, consistent=False)
    if endpoint is None or endpoint.status != "enabled":
        logger.info("webhook delivery dropped: endpoint gone or disabled", endpoint_id=endpoint_id, event_id=event.id)
        return Outcome(done=True)
    body = json.dumps(event.model_dump(mode="json"), separators=(",", ":")).encode()
    # The timestamp receivers check against their own clock: the wall clock, not the local stack's moved one.
    headers = webhook_signing.signed_headers(endpoint.signing_secrets(now), event.id, int(time.time()), body)
    result = post(endpoint.url, body, headers, ctx.policy, ctx.resolver)
    ctx.store.add_attempt(
        event.tenantId,
        AttemptRecord(
            attemptId=ids.new_id(),
            endpointId=endpoint_id,
            eventId=event.id,
            eventType=event.type,
            attempt=attempt,
            at=now,
            ok=result.ok,
            status=result.status,
            error=result.error,
            latencyMs=result.latency_ms,
            replay=replay,
        ),
        int(time.time() * 1000),
    )
    if result.ok:
        if endpoint.failingSince is not None:
            ctx.store.clear_failure(event.tenantId, endpoint_id)
        return Outcome(done=True, delivered=True)
    logger.info(
        "webhook delivery failed",
        endpoint_id=endpoint_id,
        event_id=event.id,
        attempt=attempt,
        status=result.status,
        error=result.error,
    )
    failing_since = ctx.store.record_failure(event.tenantId, endpoint_id, now)
    if failing_since is not None and now - failing_since >= ctx.disable_after_seconds:
        disabled = ctx.store.disable(event.tenantId, endpoint_id, now)
        if disabled:
            logger.warning(
                "webhook endpoint disabled: failing since", endpoint_id=endpoint_id, failing_since=failing_since
            )
        return Outcome(done=True, disabled=disabled)
    return Outcome(done=False, retry_in=backoff_seconds(attempt, ctx.retry_base_seconds))


def handle_message(body: dict[str, Any], attempt: int, ctx: DeliveryContext, now: int) -> Outcome:
    """A queue message: an EventBridge event (fan out) or a delivery {endpointId, event, replay?}."""
    if "detail-type" in body:
        return fan_out(WebhookEvent.model_validate(body["detail"]), ctx, now)
    return deliver(
        WebhookEvent.model_validate(body["event"]), str(body["endpointId"]), attempt, bool(body.get("replay")), ctx, now
    )
