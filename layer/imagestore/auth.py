"""Who is calling: JWT verification, the principal, and the REQUEST authorizer's policy.

Imports no AWS SDK: the authorizer runs on every cold API call path.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imagestore import ids
from imagestore.config import Settings
from imagestore.errors import Forbidden, Unauthorized
from imagestore.models.mobile_uploads import TOKEN_PREFIX as MOBILE_UPLOAD_TOKEN_PREFIX
from imagestore.models.mobile_uploads import MobileUploadRecord

# Ids that end up inside table keys and S3 keys: no separators ('#', '/'), bounded length.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:@+-]{1,128}", re.ASCII)
# A scope claim: space-separated scopes such as `mobile-upload:<id>`.
_SCOPE = re.compile(r"[A-Za-z0-9._:@+-]{1,200}(?: [A-Za-z0-9._:@+-]{1,200}){0,9}", re.ASCII)
LEEWAY_SECONDS = 30

# What each kind of scoped token may call: (method, resource path template) as API Gateway names them.
MOBILE_UPLOAD_SCOPE = "mobile-upload"
# A shop backend's token for its webhook endpoints (and nothing else).
WEBHOOKS_SCOPE = "webhooks"
SCOPE_ROUTES: dict[str, tuple[tuple[str, str], ...]] = {
    WEBHOOKS_SCOPE: (
        ("POST", "/webhooks/endpoints"),
        ("GET", "/webhooks/endpoints"),
        ("GET", "/webhooks/endpoints/{endpointId}"),
        ("DELETE", "/webhooks/endpoints/{endpointId}"),
        ("POST", "/webhooks/endpoints/{endpointId}/enable"),
        ("POST", "/webhooks/endpoints/{endpointId}/secret-rotations"),
        ("GET", "/webhooks/endpoints/{endpointId}/attempts"),
        ("POST", "/webhooks/endpoints/{endpointId}/replays"),
    ),
    MOBILE_UPLOAD_SCOPE: (
        ("POST", "/uploads"),
        ("POST", "/uploads/{fileId}/complete"),
        ("POST", "/upload-batches"),
        ("POST", "/upload-batches/complete"),
        ("POST", "/multipart-uploads"),
        ("POST", "/multipart-uploads/{fileId}/parts"),
        ("GET", "/multipart-uploads/{fileId}/parts"),
        ("POST", "/multipart-uploads/{fileId}/complete"),
        ("DELETE", "/multipart-uploads/{fileId}"),
        ("GET", "/mobile-uploads/{mobileUploadId}/session"),
    ),
}


@dataclass(frozen=True)
class Principal:
    """The verified caller: tenant, user, browser session and, for scoped tokens, scopes."""

    tenant_id: str
    user_id: str
    session_id: str
    scopes: tuple[str, ...] = ()
    expires_at: int | None = None  # the token's exp (wall clock); None for a mobile-upload capability

    def require_unexpired(self, now: float) -> None:
        """Refuse a principal whose token has expired since the authorizer's answer was cached."""
        if self.expires_at is not None and now >= self.expires_at + LEEWAY_SECONDS:
            raise Unauthorized("token has expired")

    @property
    def is_full_user(self) -> bool:
        return not self.scopes

    def scope_value(self, kind: str) -> str | None:
        """The argument of a scope `kind:value`, e.g. the mobile upload id of `mobile-upload:ID`."""
        for scope in self.scopes:
            name, _, value = scope.partition(":")
            if name == kind and value:
                return value
        return None

    def require_full_user(self) -> None:
        """Refuse scoped tokens (e.g. a phone's mobile-upload token) on user-only operations."""
        if not self.is_full_user:
            raise Forbidden("this token is limited to " + " ".join(self.scopes))

    def to_context(self) -> dict[str, str]:
        """The authorizer context API Gateway passes to handlers (string values only)."""
        context = {
            "tenantId": self.tenant_id,
            "userId": self.user_id,
            "sessionId": self.session_id,
            "scope": " ".join(self.scopes),
        }
        if self.expires_at is not None:
            context["expiresAt"] = str(self.expires_at)
        return context

    @classmethod
    def from_context(cls, context: dict[str, Any] | None) -> Principal:
        """The principal from requestContext.authorizer; missing fields mean no authorizer ran."""
        context = context or {}
        try:
            tenant_id, user_id, session_id = context["tenantId"], context["userId"], context["sessionId"]
        except KeyError as exc:
            raise Unauthorized("request was not authorized") from exc
        expires_at = context.get("expiresAt")
        if expires_at is not None and not (
            isinstance(expires_at, str | int) and str(expires_at).isascii() and str(expires_at).isdigit()
        ):
            raise Unauthorized("request was not authorized")
        return _principal(
            tenant_id,
            user_id,
            session_id,
            context.get("scope") or None,
            int(expires_at) if expires_at is not None else None,
        )


def _principal(
    tenant_id: object, user_id: object, session_id: object, scope: object, expires_at: int | None = None
) -> Principal:
    """A principal from claims (or the context made from them): tid, sub and sid non-empty strings
    of the id characters, scope absent or a string of scopes. Anything else is refused, not coerced."""
    for name, value in (("tid", tenant_id), ("sub", user_id), ("sid", session_id)):
        if not isinstance(value, str) or not _SAFE_ID.fullmatch(value):
            raise Unauthorized(f"token claim {name} is missing or malformed")
    if scope is not None and (not isinstance(scope, str) or not _SCOPE.fullmatch(scope)):
        raise Unauthorized("token claim scope is malformed")
    assert isinstance(tenant_id, str) and isinstance(user_id, str) and isinstance(session_id, str)
    return Principal(tenant_id, user_id, session_id, tuple(scope.split()) if scope else (), expires_at)


def verify_token(token: str, settings: Settings) -> Principal:
    """Verify a bearer JWT (HS256 secret or RS256 public keys, exp/iss/aud) and return its principal."""
    import jwt  # here, not at module level: only the authorizer verifies tokens (PyJWT loads cryptography)

    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("token is malformed") from exc
    algorithm = header.get("alg")
    if algorithm == "HS256" and settings.jwt_secret:
        candidates: list[Any] = [settings.jwt_secret]
    elif algorithm == "RS256" and settings.jwt_public_keys:
        candidates = list(settings.jwt_public_keys)
    else:
        raise Unauthorized(f"token algorithm {algorithm!r} is not accepted")
    claims: dict[str, Any] | None = None
    error: jwt.InvalidTokenError | None = None
    for key in candidates:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
            break
        except jwt.InvalidSignatureError as exc:
            error = exc
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"token is invalid: {exc}") from exc
    if claims is None:
        raise Unauthorized("token signature is invalid") from error
    expires_at = _expiry(claims.get("exp"), settings.jwt_max_lifetime_seconds, time.time())
    return _principal(claims.get("tid"), claims.get("sub"), claims.get("sid"), claims.get("scope"), expires_at)


def _expiry(exp: object, max_lifetime: int, now: float) -> int:
    """The token's exp as a whole epoch second: a JSON number (not a string, not a boolean) no
    further than max_lifetime from now."""
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise Unauthorized("token claim exp must be a number")
    if exp - now > max_lifetime + LEEWAY_SECONDS:
        raise Unauthorized(f"token lives longer than the maximum of {max_lifetime} seconds")
    return int(exp)


_SECRET = re.compile(r"[A-Za-z0-9_-]{22,128}", re.ASCII)


def is_mobile_upload_token(token: str) -> bool:
    """Whether a bearer token is a mobile-upload capability (`mu1.`) rather than a JWT."""
    return token.startswith(MOBILE_UPLOAD_TOKEN_PREFIX)


def parse_mobile_upload_token(token: str) -> tuple[str, str, str]:
    """(tenant, mobile upload id, secret) of `mu1.<tenant>.<mobileUploadId>.<secret>`."""
    parts = token.removeprefix(MOBILE_UPLOAD_TOKEN_PREFIX).rsplit(".", 2)
    if (
        len(parts) != 3
        or not _SAFE_ID.fullmatch(parts[0])
        or not ids.is_id(parts[1])
        or not _SECRET.fullmatch(parts[2])
    ):
        raise Unauthorized("mobile upload token is malformed")
    tenant_id, mobile_upload_id, secret = parts
    return tenant_id, mobile_upload_id, secret


def verify_mobile_upload_token(
    token: str, lookup: Callable[[str, str], MobileUploadRecord | None], now: float
) -> Principal:
    """The principal of a mobile-upload capability: the desktop user and session, limited to the
    scope `mobile-upload:<id>`. `lookup(tenant, id)` reads the mobile upload (one GetItem)."""
    tenant_id, mobile_upload_id, secret = parse_mobile_upload_token(token)
    record = lookup(tenant_id, mobile_upload_id)
    if record is None or not hmac.compare_digest(record.token_hash, ids.hash_token(secret)):
        raise Unauthorized("mobile upload token is not valid")
    if record.revoked:
        raise Unauthorized("mobile upload link has been revoked")
    if now >= record.link_expires_at:
        raise Unauthorized("mobile upload link has expired")
    return Principal(tenant_id, record.user_id, record.session_id, (f"{MOBILE_UPLOAD_SCOPE}:{mobile_upload_id}",))


def bearer_token(headers: dict[str, str] | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (header names are case-insensitive)."""
    for name, value in (headers or {}).items():
        if name.lower() == "authorization" and value:
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    raise Unauthorized("missing bearer token")


# The first path segments of the File API's resources; every other resource is the Project API's.
# tests/deploy/test_usage_plans.py checks this against both templates.
FILE_API_RESOURCES = frozenset({"uploads", "upload-batches", "multipart-uploads", "files", "mobile-uploads"})


def api_of(resource: str) -> str:
    """Which REST API (`file` or `project`) has a resource such as /files/{fileId}."""
    return "file" if resource.strip("/").split("/", 1)[0] in FILE_API_RESOURCES else "project"


def usage_identifier_key(stage: str, resource: str, plan: str | None) -> str:
    """The API key of a usage plan on the API of `resource`: the named plan's (the caller's tenant's
    usage_plan in the registry, when the stage deploys it), else the key of the tenants on none.
    deploy/usage-plans.js makes the same values: alphanumeric (API Gateway: 20-128 letters and digits)
    and unique per stage and API (unique per account and region)."""
    owner = f"plan/{plan}" if plan else "shared"
    return "imagestore" + hashlib.sha256(f"{stage}/{api_of(resource)}/{owner}".encode()).hexdigest()[:48]


def api_arn_prefix(method_arn: str) -> str:
    """`arn:aws:execute-api:region:account:apiId/stage` of a method ARN."""
    arn, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{arn}/{stage}"


def authorizer_policy(principal: Principal, method_arn: str) -> dict[str, Any]:
    """The IAM policy API Gateway caches for this token: every route for a full user token,
    only the routes its scopes name for a scoped token (everything else: 403 at the gateway)."""
    prefix = api_arn_prefix(method_arn)
    if principal.is_full_user:
        resources = [f"{prefix}/*/*"]
    else:
        resources = [
            f"{prefix}/{method}/" + re.sub(r"\{[^}]+\}", "*", path).lstrip("/")
            for scope in principal.scopes
            for method, path in SCOPE_ROUTES.get(scope.partition(":")[0], ())
        ]
    statement: dict[str, Any] = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resources}
    if not resources:
        statement = {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [f"{prefix}/*/*"]}
    return {
        "principalId": f"{principal.tenant_id}|{principal.user_id}",
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        "context": principal.to_context(),
    }
