"""Identifiers and capability tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(at: float | None = None) -> str:
    """A 26-character, time-ordered, random id (ULID layout, lower-case Crockford base32); at: the
    epoch seconds it is ordered by (now by default; the API's clock for comments and activity)."""
    return _encode((int((time.time() if at is None else at) * 1000) << 80) | secrets.randbits(80))


def id_floor(at: float) -> str:
    """The smallest id new_id(at') can make for any at' >= at (a range bound on time-ordered ids)."""
    return _encode(int(at * 1000) << 80)


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_id(value: str) -> bool:
    """Whether value has the shape of an id made by new_id."""
    return len(value) == 26 and all(c in _CROCKFORD for c in value)


def new_capability_token() -> str:
    """A random bearer capability (256 bits), URL-safe."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    """The SHA-256 of a capability token: what is stored at rest, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()
