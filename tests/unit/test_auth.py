"""JWT verification and the authorizer's policy."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from imagestore.auth import Principal, authorizer_policy, bearer_token, verify_token
from imagestore.config import Settings
from imagestore.errors import Forbidden, Unauthorized
from tests.support.tokens import SECRET, mint

SETTINGS = Settings(jwt_secret=SECRET)
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/files"


def test_a_valid_token_gives_its_principal() -> None:
    principal = verify_token(mint(), SETTINGS)
    assert principal == Principal("shop-a", "alice", "s1", (), principal.expires_at)
    assert principal.expires_at is not None and abs(principal.expires_at - (time.time() + 3600)) < 5
    scoped = verify_token(mint(scope="mobile-upload:m1"), SETTINGS)
    assert scoped.scope_value("mobile-upload") == "m1"
    assert not scoped.is_full_user


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (mint(expires_in=-3600), "expired"),
        (mint(audience="someone-else"), "invalid"),
        (mint(issuer="evil"), "invalid"),
        (mint(secret="another-secret-of-at-least-32-bytes!"), "signature"),
        (mint(tenant="a#b"), "tid"),
        (mint(tenant=""), "tid"),
        (mint(user="x/y"), "sub"),
        ("not-a-jwt", "malformed"),
    ],
)
def test_bad_tokens_are_refused(token: str, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verify_token(token, SETTINGS)


def test_alg_none_is_refused() -> None:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"sub": "alice", "tid": "shop-a", "iss": "imagestore-local", "aud": "imagestore", "exp": now + 60}
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    with pytest.raises(Unauthorized, match="algorithm"):
        verify_token(token, SETTINGS)


def test_hs256_signed_with_the_public_key_is_refused_when_only_rs256_is_configured() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = Settings(jwt_public_keys=public)
    now = int(time.time())
    claims = {
        "sub": "alice",
        "tid": "shop-a",
        "sid": "s1",
        "iss": "imagestore-local",
        "aud": "imagestore",
        "exp": now + 60,
    }
    assert verify_token(jwt.encode(claims, key, algorithm="RS256"), settings).user_id == "alice"
    confused = jwt.encode(claims, "secret-not-the-key-but-long-enough-123", algorithm="HS256")
    with pytest.raises(Unauthorized, match="algorithm"):
        verify_token(confused, settings)


def test_bearer_token_is_read_case_insensitively() -> None:
    assert bearer_token({"authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"Authorization": "bearer  abc "}) == "abc"
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        with pytest.raises(Unauthorized):
            bearer_token(headers)


def test_full_user_policy_allows_every_route_of_the_stage() -> None:
    policy = authorizer_policy(Principal("shop-a", "alice", "s1"), METHOD_ARN)
    (statement,) = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == ["arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*"]
    assert policy["context"] == {"tenantId": "shop-a", "userId": "alice", "sessionId": "s1", "scope": ""}


def test_mobile_upload_policy_allows_only_uploads() -> None:
    policy = authorizer_policy(Principal("shop-a", "alice", "s1", ("mobile-upload:m1",)), METHOD_ARN)
    (statement,) = policy["policyDocument"]["Statement"]
    prefix = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod"
    assert f"{prefix}/POST/uploads" in statement["Resource"]
    assert f"{prefix}/POST/uploads/*/complete" in statement["Resource"]
    assert not any("/GET/files" in r for r in statement["Resource"])


def test_unknown_scope_is_denied_everything() -> None:
    policy = authorizer_policy(Principal("shop-a", "alice", "s1", ("admin",)), METHOD_ARN)
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_scoped_principal_is_refused_on_user_operations() -> None:
    with pytest.raises(Forbidden):
        Principal("a", "b", "c", ("mobile-upload:m1",)).require_full_user()


def _signed(**claims: object) -> str:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "alice",
        "tid": "shop-a",
        "sid": "s1",
        "iss": "imagestore-local",
        "aud": "imagestore",
        "iat": now,
        "exp": now + 600,
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not ...}, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"tid": None}, "tid"),
        ({"tid": 7}, "tid"),
        ({"tid": ["shop-a"]}, "tid"),
        ({"tid": ...}, "tid"),
        ({"tid": "shop-a\n"}, "tid"),
        ({"tid": "sh\u00f6p"}, "tid"),
        ({"sid": ...}, "sid"),
        ({"sid": ""}, "sid"),
        ({"sid": 1}, "sid"),
        ({"scope": False}, "scope"),
        ({"scope": 0}, "scope"),
        ({"scope": []}, "scope"),
        ({"scope": ["mobile-upload:m1"]}, "scope"),
        ({"scope": ""}, "scope"),
        ({"scope": "mobile-upload:m1\nadmin"}, "scope"),
        ({"exp": "9999999999"}, "exp"),
        ({"exp": True}, "exp"),
        ({"exp": 1e30}, "maximum"),
        ({"exp": int(time.time()) + 2 * 86400}, "maximum"),
    ],
)
def test_claims_of_the_wrong_type_are_refused_not_coerced(claims: dict[str, object], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verify_token(_signed(**claims), SETTINGS)


def test_the_maximum_lifetime_is_a_stage_setting() -> None:
    token = _signed(exp=int(time.time()) + 7 * 86400)
    assert verify_token(token, Settings(jwt_secret=SECRET, jwt_max_lifetime_seconds=8 * 86400)).user_id == "alice"


def test_the_principal_carries_exp_through_the_authorizer_context() -> None:
    principal = verify_token(_signed(exp=int(time.time()) + 60), SETTINGS)
    context = authorizer_policy(principal, METHOD_ARN)["context"]
    assert context["expiresAt"] == str(principal.expires_at)
    again = Principal.from_context(context)
    assert again == principal
    again.require_unexpired(time.time())
    with pytest.raises(Unauthorized, match="expired"):
        again.require_unexpired(time.time() + 60 + 31)  # past exp and the leeway


@pytest.mark.parametrize("expires_at", ["soon", "1e9", "\u0661\u0662", "-5"])
def test_a_context_with_an_unreadable_exp_is_refused(expires_at: str) -> None:
    with pytest.raises(Unauthorized):
        Principal.from_context({"tenantId": "a", "userId": "b", "sessionId": "c", "expiresAt": expires_at})
