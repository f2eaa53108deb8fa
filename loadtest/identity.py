"""Tokens of the simulated users: minted for the target's HS256 secret, or read from a file."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import jwt

# The local stack's defaults (local/imagestore_local/app.py, `imagestore-local token`).
LOCAL_SECRET = "local-dev-secret-change-me"
LOCAL_ISSUER = "imagestore-local"
LOCAL_AUDIENCE = "imagestore"


@dataclass(frozen=True)
class Identity:
    tenant_id: str
    user_id: str
    token: str


class TokenMinter:
    """A fresh user (and session) per simulated user, spread over `tenants` tenants."""

    def __init__(
        self,
        secret: str,
        issuer: str,
        audience: str,
        tenants: int = 10,
        ttl_s: int = 4 * 3600,
        tenant_prefix: str = "lt",
    ) -> None:
        if not secret:
            raise ValueError("a JWT secret is needed to mint tokens (or give a token file)")
        self.secret, self.issuer, self.audience = secret, issuer, audience
        self.tenants, self.ttl_s, self.tenant_prefix = max(1, tenants), ttl_s, tenant_prefix
        self._counter = itertools.count()
        self._run = uuid.uuid4().hex[:8]

    def next(self) -> Identity:
        n = next(self._counter)
        tenant = f"{self.tenant_prefix}-shop-{n % self.tenants:03d}"
        user = f"{self.tenant_prefix}-{self._run}-u{n}"
        now = int(time.time())
        claims = {
            "sub": user,
            "tid": tenant,
            "sid": f"s-{uuid.uuid4().hex[:16]}",
            "iat": now,
            "exp": now + self.ttl_s,
            "iss": self.issuer,
            "aud": self.audience,
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the local default secret is shorter than 32 bytes
            token = jwt.encode(claims, self.secret, algorithm="HS256")
        return Identity(tenant, user, token)


def mint_for(minter: TokenMinter, tenant: str) -> str:
    """A fresh user's token of a given tenant, signed as `minter` signs."""
    now = int(time.time())
    claims = {
        "sub": f"u-{uuid.uuid4().hex[:12]}",
        "tid": tenant,
        "sid": f"s-{uuid.uuid4().hex[:16]}",
        "iat": now,
        "exp": now + minter.ttl_s,
        "iss": minter.issuer,
        "aud": minter.audience,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the local default secret is shorter than 32 bytes
        return jwt.encode(claims, minter.secret, algorithm="HS256")


class TokenFile:
    """Tokens issued by the stage's identity provider, one per line, handed out round-robin."""

    def __init__(self, path: Path) -> None:
        tokens = [
            line.strip()
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if not tokens:
            raise ValueError(f"{path} holds no tokens")
        self._tokens = itertools.cycle(tokens)
        self._lock = threading.Lock()

    def next(self) -> Identity:
        with self._lock:
            token = next(self._tokens)
        claims = jwt.decode(token, options={"verify_signature": False})
        return Identity(str(claims.get("tid", "")), str(claims.get("sub", "")), token)
