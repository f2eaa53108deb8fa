"""CORS of the functions' answers: the browser's Origin is allowed when it matches the stage's
origins (IMAGESTORE_CORS_ORIGINS, the `corsOrigins` param that the API Gateway preflight also
follows) and, when the caller's tenant names its own shop origins (`cors_origins`), one of those."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

# The answer headers browser code may read: the version, when to retry, the request's id (to report a
# failure), an idempotent replay, and the IETF httpapi draft's rate-limit fields.
EXPOSED_HEADERS = "ETag, Retry-After, X-Amzn-RequestId, Idempotent-Replayed, RateLimit, RateLimit-Policy"


def split_origins(value: str) -> tuple[str, ...]:
    """`a,b, c` -> ("a", "b", "c"), as Serverless splits a `cors.origin` with commas."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


# One DNS label (letters, digits, hyphens inside), and a port.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_LABELS = rf"{_LABEL}(?:\.{_LABEL})*"
_PORT = r"[0-9]{1,5}"


@lru_cache(maxsize=256)
def _pattern(origin: str) -> re.Pattern[str]:
    """An allowed origin as a pattern: literal, except one `*`, which stands for a port where a port
    goes (`http://localhost:*`: digits only) and otherwise for host labels (`https://*.shop.example`:
    `a` or `a.b`, each a DNS label, never `@`, `/`, `:`, `?` or `#`), so that no malformed origin
    (`http://localhost:@evil.example`) matches. A lone `*` matches any origin."""
    if origin == "*":
        return re.compile(".+")
    head, star, tail = origin.partition("*")
    if not star:
        return re.compile(re.escape(origin))
    part = _PORT if head.endswith(":") and "://" in head[:-1] and not tail else _HOST_LABELS
    return re.compile(re.escape(head) + part + re.escape(tail))


def origin_matches(origin: str, allowed: Iterable[str]) -> bool:
    """Whether a request's Origin is one of the allowed origins (or matches a wildcard one)."""
    return bool(origin) and any(_pattern(pattern).fullmatch(origin) for pattern in allowed)


def request_origin(headers: Mapping[str, Any] | None) -> str:
    """The request's Origin header (header names are case-insensitive), or ''."""
    for name, value in (headers or {}).items():
        if name.lower() == "origin" and isinstance(value, str):
            return value.strip()
    return ""


def cors_headers(origin: str, stage_origins: Iterable[str], tenant_origins: Iterable[str] | None) -> dict[str, str]:
    """The CORS headers of an answer to a request from `origin`: Access-Control-Allow-Origin only
    for an allowed origin; Vary: Origin always (the answer depends on it)."""
    headers = {"Vary": "Origin"}
    if origin_matches(origin, stage_origins) and (tenant_origins is None or origin_matches(origin, tenant_origins)):
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return headers


def add_headers(result: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    """A Lambda proxy result with `headers` set (in multiValueHeaders when the result uses them)."""
    multi = result.get("multiValueHeaders")
    if isinstance(multi, dict):
        for name, value in headers.items():
            multi[name] = [value]
    else:
        result["headers"] = {**(result.get("headers") or {}), **headers}
    return result
