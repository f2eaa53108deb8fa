"""Identifiers and capability tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id() -> str:
    """A 26-character, time-ordered, random id (ULID layout, lower-case Crockford base32)."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
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
