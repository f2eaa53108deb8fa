"""A tenant's webhook endpoints: registration (checked: safe to point anywhere), secret rotation, the
delivery log, replays. Only the shop's backend manages them: a token with the scope `webhooks`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from imagestore import ids, webhook_signing
from imagestore.auth import WEBHOOKS_SCOPE, Principal
from imagestore.clock import from_epoch, iso
from imagestore.data.webhooks import WebhookQueue, WebhookStore
from imagestore.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from imagestore.models.webhooks import EndpointRecord, EventType, SecretRecord
from imagestore.observability import logger
from imagestore.webhook_http import DeliveryPolicy, EndpointRefused, Resolver, check_endpoint_url, system_resolver
from project_service.models import (
    SecretRotationView,
    WebhookAttemptView,
    WebhookEndpointCreated,
    WebhookEndpointInput,
    WebhookEndpointView,
    WebhookReplayInput,
    WebhookReplayView,
)

MAX_ENDPOINTS = 10
ROTATION_OVERLAP_SECONDS = 24 * 3600
MAX_REPLAY_EVENTS = 100


@dataclass(frozen=True)
class WebhookContext:
    store: WebhookStore
    queue: WebhookQueue | None
    policy: DeliveryPolicy
    resolver: Resolver = system_resolver


def delivery_policy(stage: str) -> DeliveryPolicy:
    """Plain http to 127.0.0.1 on the local stage only."""
    return DeliveryPolicy(allow_loopback_http=stage == "local")


def _require_webhooks_scope(principal: Principal) -> None:
    if WEBHOOKS_SCOPE not in principal.scopes:
        raise Forbidden(f"webhook endpoints are managed with a token whose scope includes {WEBHOOKS_SCOPE!r}")


def endpoint_view(record: EndpointRecord) -> WebhookEndpointView:
    return WebhookEndpointView(
        endpoint_id=record.endpointId,
        url=record.url,
        event_types=[cast(EventType, t) for t in record.eventTypes],  # stored from a validated request
        description=record.description,
        status=record.status,
        created_at=iso(from_epoch(record.createdAt)),
        failing_since=iso(from_epoch(record.failingSince)) if record.failingSince else None,
        disabled_at=iso(from_epoch(record.disabledAt)) if record.disabledAt else None,
    )


def register_endpoint(
    principal: Principal, request: WebhookEndpointInput, ctx: WebhookContext, now: int
) -> WebhookEndpointCreated:
    _require_webhooks_scope(principal)
    try:
        check_endpoint_url(request.url, ctx.policy, ctx.resolver)
    except EndpointRefused as exc:
        raise Unprocessable(f"webhook endpoint refused: {exc}", details={"url": request.url}) from None
    if len(ctx.store.endpoints(principal.tenant_id)) >= MAX_ENDPOINTS:
        raise Conflict(f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first")
    secret = webhook_signing.new_secret()
    record = EndpointRecord(
        tenantId=principal.tenant_id,
        endpointId=ids.new_id(),
        url=request.url,
        eventTypes=tuple(request.event_types),
        description=request.description,
        secrets=(SecretRecord(secret=secret, createdAt=now),),
        createdAt=now,
    )
    ctx.store.add_endpoint(record)
    logger.info("webhook endpoint registered", endpoint_id=record.endpointId, event_types=record.eventTypes)
    return WebhookEndpointCreated(**endpoint_view(record).model_dump(), secret=secret)


def _own_endpoint(principal: Principal, endpoint_id: str, ctx: WebhookContext) -> EndpointRecord:
    _require_webhooks_scope(principal)
    record = ctx.store.endpoint(principal.tenant_id, endpoint_id) if ids.is_id(endpoint_id) else None
    if record is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return record


def list_endpoints(principal: Principal, ctx: WebhookContext) -> list[WebhookEndpointView]:
    _require_webhooks_scope(principal)
    return [endpoint_view(r) for r in sorted(ctx.store.endpoints(principal.tenant_id), key=lambda r: r.createdAt)]


def get_endpoint(principal: Principal, endpoint_id: str, ctx: WebhookContext) -> WebhookEndpointView:
    return endpoint_view(_own_endpoint(principal, endpoint_id, ctx))


def delete_endpoint(principal: Principal, endpoint_id: str, ctx: WebhookContext) -> None:
    _own_endpoint(principal, endpoint_id, ctx)
    ctx.store.delete_endpoint(principal.tenant_id, endpoint_id)


def enable_endpoint(principal: Principal, endpoint_id: str, ctx: WebhookContext) -> WebhookEndpointView:
    """Deliver to a disabled endpoint again (its URL is checked again)."""
    record = _own_endpoint(principal, endpoint_id, ctx)
    try:
        check_endpoint_url(record.url, ctx.policy, ctx.resolver)
    except EndpointRefused as exc:
        raise Unprocessable(f"webhook endpoint refused: {exc}", details={"url": record.url}) from None
    ctx.store.enable(principal.tenant_id, endpoint_id)
    return get_endpoint(principal, endpoint_id, ctx)


def rotate_secret(principal: Principal, endpoint_id: str, ctx: WebhookContext, now: int) -> SecretRotationView:
    """A new secret, used from now on; the current one stays valid for 24 hours (every delivery is signed
    with both meanwhile); older ones are dropped."""
    record = _own_endpoint(principal, endpoint_id, ctx)
    current = [s for s in record.secrets if s.expiresAt is None]
    previous_expiry = now + ROTATION_OVERLAP_SECONDS
    secret = webhook_signing.new_secret()
    kept = [SecretRecord(secret=s.secret, createdAt=s.createdAt, expiresAt=previous_expiry) for s in current]
    ctx.store.replace_secrets(record, [SecretRecord(secret=secret, createdAt=now), *kept])
    return SecretRotationView(secret=secret, previous_secret_expires_at=iso(from_epoch(previous_expiry)))


def attempts(principal: Principal, endpoint_id: str, ctx: WebhookContext, limit: int) -> list[WebhookAttemptView]:
    _own_endpoint(principal, endpoint_id, ctx)
    return [
        WebhookAttemptView(
            attempt_id=a.attemptId,
            event_id=a.eventId,
            event_type=cast(EventType, a.eventType),
            attempt=a.attempt,
            at=iso(from_epoch(a.at)),
            ok=a.ok,
            status=a.status,
            error=a.error,
            latency_ms=a.latencyMs,
            replay=a.replay,
        )
        for a in ctx.store.attempts(principal.tenant_id, endpoint_id, limit)
    ]


def _epoch(text: str, name: str) -> int:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} is not an ISO 8601 time", details={name: text}) from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone (Z or an offset)", details={name: text})
    return int(moment.timestamp())


def replay(
    principal: Principal, endpoint_id: str, request: WebhookReplayInput, ctx: WebhookContext, now: int
) -> WebhookReplayView:
    """Queue one event (eventId), or the events of a time range (since, until), for the endpoint again:
    the same event ids, delivered and retried as any delivery. Events are kept 30 days."""
    record = _own_endpoint(principal, endpoint_id, ctx)
    if (request.event_id is None) == (request.since is None):
        raise BadRequest("give either eventId or since (and optionally until)")
    if request.event_id is not None:
        event = ctx.store.event(principal.tenant_id, request.event_id)
        if event is None:
            raise NotFound(f"event {request.event_id} not found (events are kept 30 days)")
        events, truncated = [event], False
    else:
        since = _epoch(str(request.since), "since")
        until = _epoch(request.until, "until") if request.until else now
        if until < since:
            raise BadRequest("until is before since")
        events, truncated = ctx.store.events_between(principal.tenant_id, since, until, MAX_REPLAY_EVENTS)
    events = [e for e in events if e.type in record.eventTypes]
    if ctx.queue is None:
        raise RuntimeError("IMAGESTORE_WEBHOOK_QUEUE_URL is not set for this function")
    ctx.queue.send([{"endpointId": endpoint_id, "replay": True, "event": e.model_dump(mode="json")} for e in events])
    logger.info("webhook events replayed", endpoint_id=endpoint_id, events=len(events))
    return WebhookReplayView(queued=len(events), event_ids=[e.id for e in events], truncated=truncated)
