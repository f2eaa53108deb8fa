"""IAM policy evaluation, API Gateway routing and EventBridge patterns."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from imagestore_local.policy import Decision, evaluate_policy, method_arn, wildcard_match
from imagestore_local.routing import Route, Router
from imagestore_local.scheduler import parse_rate, pattern_matches

ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/local/GET/files/f1"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def stmt(effect: str, resource: Any, action: Any = "execute-api:Invoke") -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource}


def test_method_arn() -> None:
    assert method_arn("eu-west-1", "123456789012", "abc123", "local", "GET", "/files/f1") == ARN


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("arn:aws:execute-api:eu-west-1:123456789012:abc123/*/*", True),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc123/local/GET/files/*", True),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc123/local/POST/*", False),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc12?/local/GET/files/f?", True),
        ("arn:aws:execute-api:eu-west-1:123456789012:other/*", False),
        ("*", True),
        ("arn:aws:execute-api:*:*:abc123/local/GET/files/f1", True),
        ("ARN:aws:execute-api:eu-west-1:123456789012:abc123/*", False),  # resources are case-sensitive
    ],
)
def test_wildcards(pattern: str, expected: bool) -> None:
    assert wildcard_match(pattern, ARN) is expected


def test_allow_deny_semantics() -> None:
    allow_all = stmt("Allow", "arn:aws:execute-api:eu-west-1:123456789012:abc123/*/*")
    assert evaluate_policy(policy(allow_all), ARN) is Decision.ALLOW
    deny_get = stmt("Deny", ["arn:aws:execute-api:*:*:abc123/*/GET/*"])
    assert evaluate_policy(policy(allow_all, deny_get), ARN) is Decision.EXPLICIT_DENY
    assert evaluate_policy(policy(deny_get, allow_all), ARN) is Decision.EXPLICIT_DENY
    assert evaluate_policy(policy(stmt("Allow", "arn:other")), ARN) is Decision.IMPLICIT_DENY
    assert evaluate_policy(policy(), ARN) is Decision.IMPLICIT_DENY
    assert evaluate_policy(policy(stmt("Allow", "*", "execute-api:*")), ARN) is Decision.ALLOW
    assert evaluate_policy(policy(stmt("Allow", "*", "s3:GetObject")), ARN) is Decision.IMPLICIT_DENY
    single = {"Version": "2012-10-17", "Statement": stmt("allow", "*", ["EXECUTE-API:Invoke"])}
    assert evaluate_policy(single, ARN) is Decision.ALLOW


def route(method: str, resource: str, name: str = "") -> Route:
    service = SimpleNamespace(key="s")
    fn = SimpleNamespace(key=name or f"{method} {resource}", service=service)
    return Route(service=service, function=fn, method=method, resource=resource, authorizer=None)  # type: ignore[arg-type]


def test_routing_precedence_and_parameters() -> None:
    router = Router(
        [
            route("GET", "/files/{fileId}"),
            route("GET", "/files/special"),
            route("DELETE", "/files/{id}"),
            route("ANY", "/{proxy+}"),
            route("POST", "/uploads/{fileId}/complete"),
        ]
    )
    match = router.match("GET", "/files/abc")
    assert match.route is not None and match.route.resource == "/files/{fileId}"
    assert match.path_parameters == {"fileId": "abc"}
    assert router.match("GET", "/files/special").route.resource == "/files/special"  # type: ignore[union-attr]
    deleted = router.match("DELETE", "/files/abc")
    assert deleted.path_parameters == {"id": "abc"}
    assert router.match("POST", "/uploads/x/complete").path_parameters == {"fileId": "x"}
    greedy = router.match("PUT", "/a/b/c")
    assert greedy.route is not None and greedy.path_parameters == {"proxy": "a/b/c"}
    not_allowed = router.match("PATCH", "/files/abc")
    assert not_allowed.route is None and not_allowed.allowed_methods == ["DELETE", "GET"]


def test_no_route() -> None:
    router = Router([route("GET", "/files")])
    assert router.match("GET", "/nope").route is None
    assert router.match("GET", "/nope").allowed_methods == []
    assert router.match("GET", "/files/").route is not None  # trailing slash tolerated


def test_rate_expressions() -> None:
    assert parse_rate("rate(1 minute)") == 60
    assert parse_rate("rate(15 minutes)") == 900
    assert parse_rate("rate(2 hours)") == 7200
    assert parse_rate("rate(30 seconds)") == 30
    with pytest.raises(ValueError):
        parse_rate("cron(0 12 * * ? *)")


def test_event_patterns() -> None:
    event = {
        "source": "imagestore.auth",
        "detail-type": "UserLoggedOut",
        "detail": {"tenantId": "t1", "count": 5, "tags": ["a", "b"]},
    }
    assert pattern_matches({"source": ["imagestore.auth"], "detail-type": ["UserLoggedOut"]}, event)
    assert not pattern_matches({"source": ["other"]}, event)
    assert pattern_matches({"source": [{"prefix": "imagestore."}]}, event)
    assert pattern_matches({"detail": {"tenantId": ["t1"]}}, event)
    assert not pattern_matches({"detail": {"tenantId": ["t2"]}}, event)
    assert pattern_matches({"detail": {"tags": ["b"]}}, event)
    assert pattern_matches({"detail": {"missing": [{"exists": False}]}}, event)
    assert pattern_matches({"detail": {"count": [{"numeric": [">", 1, "<=", 5]}]}}, event)
    assert pattern_matches({"detail-type": [{"anything-but": ["X"]}]}, event)
    assert not pattern_matches({"detail-type": [{"anything-but": {"prefix": "User"}}]}, event)
