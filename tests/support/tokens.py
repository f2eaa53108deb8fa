"""JWTs as a shop would issue them, for tests."""

from __future__ import annotations

import time
from typing import Any

import jwt

SECRET = "test-secret-of-at-least-32-bytes-long!"


def mint(
    tenant: str = "shop-a",
    user: str = "alice",
    session: str = "s1",
    *,
    scope: str | None = None,
    secret: str = SECRET,
    issuer: str = "imagestore-local",
    audience: str = "imagestore",
    expires_in: int = 3600,
    algorithm: str = "HS256",
    **extra: Any,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user,
        "tid": tenant,
        "sid": session,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + expires_in,
        **extra,
    }
    if scope:
        claims["scope"] = scope
    return jwt.encode(claims, secret, algorithm=algorithm)
