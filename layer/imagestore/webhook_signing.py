"""Standard Webhooks signatures (https://www.standardwebhooks.com): webhook-id, webhook-timestamp and
webhook-signature, `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}` with the decoded
`whsec_` secret; one signature per valid secret (two during a rotation), separated by spaces."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from imagestore.models.webhooks import SECRET_PREFIX


def new_secret() -> str:
    """A signing secret: whsec_ + base64 of 24 random bytes (192 bits)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of one secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def signed_headers(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a delivery, signed with every secret given."""
    if not secrets_:
        raise ValueError("an endpoint without a valid secret cannot be signed for")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_),
    }
