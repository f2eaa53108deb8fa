"""Idempotency keys: a POST that creates something, sent again with the same `Idempotency-Key`
header and the same request within a day, answers what the first one answered instead of creating
a second thing. Any route takes part by naming the middleware:

    @app.post("/projects", middlewares=[idempotency.idempotent])

- Keys are scoped to the caller's tenant and user: another user's key never finds this record.
- The same key with another request (method, path or body, JSON compared by value) is a 422.
- While the first request runs, another with the key is a 409 with Retry-After; after it, the replay.
- Only 2xx answers are kept: a refused or failed request releases the key, so a retry runs again.
- Without the header the route runs as before. Costs and the choice against Powertools'
  idempotency utility: docs/idempotency.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from imagestore import api, clock, errors, keys
from imagestore.data import factory
from imagestore.observability import logger

if TYPE_CHECKING:
    from imagestore.data.idempotency import StoredAnswer

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
REPLAY_WINDOW_SECONDS = 86_400
MAX_KEY_CHARS = 255
LOCK_SECONDS_WITHOUT_CONTEXT = 30  # how long an attempt holds its key when the function's time left is unknown
REPLAYED_HEADERS = ("Content-Type", "ETag", "Location", "Cache-Control")


def key_digest(value: str | None) -> str | None:
    """The SHA-256 (hex) of a client's Idempotency-Key, None without one; 400 when it is empty after
    trimming, longer than MAX_KEY_CHARS or not printable ASCII."""
    if value is None:
        return None
    key = value.strip()
    if not key or len(key) > MAX_KEY_CHARS or not all(" " <= c <= "~" for c in key):
        raise errors.BadRequest(f"{HEADER} must be 1 to {MAX_KEY_CHARS} printable ASCII characters")
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests the same request: method, path and body (a JSON body by value, so
    that key order and spacing do not count)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(b"\n".join([method.upper().encode(), path.encode(), canonical])).hexdigest()


def idempotent(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Route middleware: run the route once per (tenant, user, Idempotency-Key); replay its answer."""
    event = app.current_event
    digest = key_digest(event.headers.get(HEADER.lower()))
    if digest is None:
        return next_middleware(app)
    from imagestore.data.idempotency import COMPLETED  # the data layer (boto3) loads with the first key

    caller = api.principal(app)
    record_key = keys.idempotency_key(caller.tenant_id, caller.user_id, digest)
    request = fingerprint(event.http_method, event.path, api.raw_body(app))
    attempt = event.request_context.request_id or f"{time.time_ns()}"
    now = int(clock.now_epoch())
    store = factory.idempotency_store()
    held = store.claim(
        record_key, request, attempt, now, expires_at=now + REPLAY_WINDOW_SECONDS, locked_until=now + _lock_seconds(app)
    )
    if held is not None:
        if held.fingerprint != request:
            raise errors.IdempotencyKeyReused(
                f"this {HEADER} was used with another request in the last 24 hours; use a new key"
            )
        if held.status != COMPLETED:
            raise errors.IdempotencyKeyInUse(
                f"the first request with this {HEADER} is still running; retry to get its answer"
            )
        if held.answer is None:
            raise errors.IdempotencyKeyInUse(
                f"the request with this {HEADER} succeeded but its answer was too large to keep; read the "
                "resource instead"
            )
        logger.info("idempotent replay", status=held.answer.status)
        return Response(
            status_code=held.answer.status,
            body=held.answer.body,
            headers={**held.answer.headers, REPLAYED_HEADER: "true"},
        )
    try:
        response = next_middleware(app)
    except BaseException:
        store.release(record_key, attempt)
        raise
    if 200 <= response.status_code < 300:
        if not store.complete(record_key, attempt, _answer(response)):
            logger.warning("idempotency record taken over before completion", attempt=attempt)
    else:
        store.release(record_key, attempt)
    return response


def _lock_seconds(app: APIGatewayRestResolver) -> int:
    """How long this attempt holds the key: the time its function has left (then it has ended)."""
    context = getattr(app, "lambda_context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return LOCK_SECONDS_WITHOUT_CONTEXT
    return max(1, math.ceil(float(remaining()) / 1000))


def _answer(response: Response[Any]) -> StoredAnswer:
    from imagestore.data.idempotency import StoredAnswer

    body = response.body
    if isinstance(body, bytes):
        text = body.decode("utf-8")
    elif isinstance(body, str):
        text = body
    elif body is None:
        text = ""
    else:
        text = json.dumps(body, separators=(",", ":"))
    headers = {
        name: str(value)
        for name, value in response.headers.items()
        if name.lower() in {h.lower() for h in REPLAYED_HEADERS} and isinstance(value, str)
    }
    return StoredAnswer(response.status_code, text, headers)
