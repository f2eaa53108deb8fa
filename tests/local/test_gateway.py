"""The gateway against stub services: proxy events, authorizer 401/403/500, caching, errors, events."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client, TestResponse

from imagestore_local.clock import LocalClock
from imagestore_local.config_loader import Project
from imagestore_local.gateway import Gateway, StackInfo
from imagestore_local.lambda_runtime import LambdaRuntime
from imagestore_local.routing import build_routes
from imagestore_local.scheduler import EventBus, rules_of, schedules_of
from tests.local.conftest import StubRepo


@pytest.fixture
def gateway(stub_repo: StubRepo, clean_env: None, tmp_path: Path) -> Iterator[Gateway]:
    project = Project(stub_repo.root, stage="local")
    functions = [fn for service in project.services() for fn in service.functions.values()]
    runtime = LambdaRuntime(functions, tmp_path / "dead-letters")
    bus = EventBus([rule for fn in functions for rule in rules_of(fn)], runtime, "eu-west-1")
    info = StackInfo(stage="local", region="eu-west-1", dynamodb="none", s3="none", data_dir=str(tmp_path))
    yield Gateway(project, build_routes(project), runtime, bus, LocalClock(tmp_path / "data"), info)
    runtime.stop()


def body(response: TestResponse) -> Any:
    """The JSON body, whatever the content type."""
    return json.loads(response.data) if response.data else None


def client(gateway: Gateway) -> Client:
    return Client(gateway)


def calls(stub_repo: StubRepo) -> list[dict]:  # type: ignore[type-arg]
    return stub_repo.calls()


def test_missing_identity_source_is_401_without_invoking(gateway: Gateway, stub_repo: StubRepo) -> None:
    response = client(gateway).get("/items/1")
    assert response.status_code == 401
    # The stub service's UNAUTHORIZED gateway response renders the body.
    assert body(response) == {"error": {"code": "unauthorized", "message": "Unauthorized"}}
    assert "Access-Control-Allow-Origin" not in response.headers  # no Origin, nothing to echo
    from_shop = client(gateway).get("/items/1", headers={"Origin": "https://shop.example"})
    assert from_shop.status_code == 401 and from_shop.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert from_shop.headers["Vary"] == "Origin"
    assert calls(stub_repo) == []  # the authorizer never ran


def test_allowed_request_reaches_handler_with_proxy_event(gateway: Gateway, stub_repo: StubRepo) -> None:
    response = client(gateway).get("/items/42?a=1&a=2&b=x", headers={"Authorization": "Bearer ok", "X-Test": "y"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Fn"] == "stub-local-echo"
    event = body(response)["event"]
    assert event["resource"] == "/items/{itemId}"
    assert event["path"] == "/items/42"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"itemId": "42"}
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"]["a"] == ["1", "2"]
    assert event["headers"]["X-Test"] == "y"
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "local" and context["resourcePath"] == "/items/{itemId}"
    assert context["authorizer"] == {
        "tid": "t1",
        "sub": "u1",
        "n": "5",
        "flag": "true",
        "principalId": "t1|u1",
    }
    assert context["identity"]["sourceIp"]
    assert 0 < body(response)["remaining"] <= 7000
    auth_event = calls(stub_repo)[-1]
    assert auth_event["type"] == "REQUEST"
    assert auth_event["methodArn"].endswith("/local/GET/items/42")
    assert auth_event["methodArn"].startswith("arn:aws:execute-api:eu-west-1:123456789012:")
    assert auth_event["pathParameters"] == {"itemId": "42"}


def test_authorizer_outcomes(gateway: Gateway) -> None:
    c = client(gateway)
    assert c.get("/items/1", headers={"Authorization": "Bearer nobody"}).status_code == 401
    denied = c.get("/items/1", headers={"Authorization": "Bearer deny"})
    assert denied.status_code == 403
    # The stub API declares no ACCESS_DENIED gateway response: API Gateway's own body.
    assert body(denied) == {"message": "User is not authorized to access this resource with an explicit deny"}
    failing = c.get("/items/1", headers={"Authorization": "Bearer boom"})
    assert failing.status_code == 500
    assert failing.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"


def test_cached_policy_is_evaluated_per_request(gateway: Gateway, stub_repo: StubRepo) -> None:
    c = client(gateway)
    headers = {"Authorization": "Bearer get-only"}
    assert c.get("/items/1", headers=headers).status_code == 200
    before = len(calls(stub_repo))
    assert c.get("/items/2", headers=headers).status_code == 200
    assert len(calls(stub_repo)) == before  # cached (resultTtlInSeconds 300)
    # Same token on a route with TTL 0: invoked again, and the GET-only policy denies POST.
    assert c.post("/items", headers=headers).status_code == 403
    assert len(calls(stub_repo)) == before + 1


def test_authorizer_by_arn_from_another_service(gateway: Gateway, stub_repo: StubRepo) -> None:
    response = client(gateway).get("/things", headers={"Authorization": "Bearer ok"})
    assert response.status_code == 200
    assert calls(stub_repo)[-1]["methodArn"].endswith("/local/GET/things")


def test_open_routes_binary_and_body(gateway: Gateway) -> None:
    c = client(gateway)
    special = c.get("/items/special")
    assert special.status_code == 200 and body(special)["event"]["resource"] == "/items/special"
    posted = c.put("/open/a/b", data=b"\x00\xffbinary", headers={"Content-Type": "application/octet-stream"})
    event = body(posted)["event"]
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\xffbinary"
    text = body(c.post("/open/x", json={"a": 1}))["event"]
    assert json.loads(text["body"]) == {"a": 1} and text["isBase64Encoded"] is False
    blob = c.get("/blob")
    assert blob.data == b"\x89PNG-bytes" and blob.headers["Content-Type"] == "image/png"


def test_errors_and_cors(gateway: Gateway) -> None:
    c = client(gateway)
    broken = c.get("/broken")
    assert broken.status_code == 502 and body(broken) == {"message": "Internal server error"}
    # No method: API Gateway's MISSING_AUTHENTICATION_TOKEN, for an unknown path as for another method.
    for missing in (c.get("/nowhere"), c.patch("/items/1")):
        assert missing.status_code == 403
        assert body(missing) == {"message": "Missing Authentication Token"}
        assert missing.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    preflight = c.options("/items/1", headers={"Origin": "https://a.brand.example"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://a.brand.example"
    assert preflight.headers["Access-Control-Allow-Methods"] == "OPTIONS,GET"
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization,Content-Type"
    assert preflight.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    # Another origin gets the first configured one (the browser then refuses), as Serverless's template does.
    other = c.options("/items/1", headers={"Origin": "https://evil.example"})
    assert other.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    # A resource without cors has no OPTIONS method.
    assert c.options("/items/special").status_code == 403
    # The gateway adds no CORS header to a function's answer: the function does.
    assert (
        "Access-Control-Allow-Origin" not in c.get("/items/special", headers={"Origin": "https://shop.example"}).headers
    )


def test_api_gateway_and_lambda_payload_limits(gateway: Gateway, stub_repo: StubRepo) -> None:
    c = client(gateway)
    over_10_mb = c.put("/open/x", data=b"a" * (10 * 1024 * 1024 + 1), headers={"Content-Type": "text/plain"})
    assert over_10_mb.status_code == 413 and body(over_10_mb) == {"message": "Request Too Long"}
    # Under API Gateway's 10 MB but over Lambda's 6 MB event (a binary body grows by a third in base64).
    over_6_mb = c.put("/open/x", data=b"\x00" * (5 * 1024 * 1024), headers={"Content-Type": "image/png"})
    assert over_6_mb.status_code == 413
    assert c.put("/open/x", data=b"\x00" * (4 * 1024 * 1024), headers={"Content-Type": "image/png"}).status_code == 200
    # A function result over Lambda's 6 MB response payload: 502.
    assert c.get("/big?bytes=1000").data == b"x" * 1000
    too_big = c.get(f"/big?bytes={6 * 1024 * 1024 + 100}")
    assert too_big.status_code == 502 and body(too_big) == {"message": "Internal server error"}


def test_events_invoke_matching_functions(gateway: Gateway, stub_repo: StubRepo) -> None:
    c = client(gateway)
    entry = {"Source": "imagestore.auth", "DetailType": "UserLoggedOut", "Detail": json.dumps({"sid": "s1"})}
    result = body(c.post("/_local/events?wait=1", json={"Entries": [entry, {**entry, "DetailType": "Other"}]}))
    assert result["FailedEntryCount"] == 0 and len(result["Entries"]) == 2
    targets = result["_local"]["targets"]
    assert [(t["function"], t["result"]) for t in targets] == [("target", {"got": "UserLoggedOut"})]
    assert calls(stub_repo)[-1]["detail"] == {"sid": "s1"}
    # boto3's events client reaches the same endpoint (JSON protocol, X-Amz-Target, trailing slash).
    boto = c.post(
        "/_local/events/",
        data=json.dumps({"Entries": [entry]}),
        headers={"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"},
    )
    assert boto.status_code == 200 and body(boto)["FailedEntryCount"] == 0
    assert boto.headers["Content-Type"] == "application/x-amz-json-1.1"


def test_invoke_and_clock_endpoints(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    c = client(gateway)
    invoked = c.post("/_local/functions/stub/target/invoke", json={"detail-type": "Manual"})
    assert invoked.status_code == 200 and body(invoked) == {"got": "Manual"}
    assert c.post("/_local/functions/stub/nope/invoke", json={}).status_code == 404
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", "0")
    assert body(c.post("/_local/clock", json={"advanceSeconds": 3600}))["offsetSeconds"] == 3600
    assert body(c.post("/_local/clock", json={"advanceSeconds": 60}))["offsetSeconds"] == 3660
    import os

    assert os.environ["IMAGESTORE_CLOCK_OFFSET_SECONDS"] == "3660"
    assert json.loads(gateway.clock.path.read_text())["offsetSeconds"] == 3660


def test_schedules_are_found(gateway: Gateway) -> None:
    fn = gateway.project.service("stub").functions["target"]
    (schedule,) = schedules_of(fn)
    assert schedule.period == 7200


def _warm_up(c: Client) -> None:
    """Start the authorizer's and the function's workers (a cold start takes longer than a token's refill),
    then refill every usage-plan bucket."""
    assert c.get("/limited/1", headers={"Authorization": "Bearer key-fast-0123456789abcdef"}).status_code == 200
    assert c.delete("/_local/usage-plans").status_code == 204


def test_usage_plans_throttle_each_key_on_its_own(gateway: Gateway) -> None:
    c = client(gateway)
    slow = {"Authorization": "Bearer key-slow-0123456789abcdef"}
    fast = {"Authorization": "Bearer key-fast-0123456789abcdef"}
    _warm_up(c)
    assert [c.get("/limited/1", headers=slow).status_code for _ in range(2)] == [200, 200]  # the burst
    throttled = c.get("/limited/1", headers=slow)
    assert throttled.status_code == 429
    assert body(throttled) == {"error": {"code": "throttled", "message": "Too Many Requests"}}
    assert throttled.headers["Retry-After"] == "1"
    # The other key keeps its rate while the first is throttled.
    assert {c.get("/limited/1", headers=fast).status_code for _ in range(50)} == {200}
    assert c.get("/limited/1", headers=slow).status_code == 429
    time.sleep(1.1)  # rate 1/s: one more token
    assert c.get("/limited/1", headers=slow).status_code == 200
    # Routes without `private: true` need no key.
    assert c.get("/items/1", headers={"Authorization": "Bearer ok"}).status_code == 200


def test_method_throttles_quotas_and_keys_in_no_plan(gateway: Gateway) -> None:
    c = client(gateway)
    fast = {"Authorization": "Bearer key-fast-0123456789abcdef"}
    _warm_up(c)
    assert c.post("/limited/1", headers=fast).status_code == 200
    assert c.post("/limited/1", headers=fast).status_code == 429  # the plan's throttle of POST /limited/{id}
    assert c.get("/limited/1", headers=fast).status_code == 200  # other methods keep the plan's rate
    # The slow plan's quota is 4 a day: QUOTA_EXCEEDED (no gateway response declared: API Gateway's body).
    slow = {"Authorization": "Bearer key-slow-0123456789abcdef"}
    passed = 0
    for _ in range(12):
        response = c.get("/limited/1", headers=slow)
        if response.status_code == 200:
            passed += 1
        elif response.status_code == 429 and body(response) == {"message": "Limit Exceeded"}:
            break
        time.sleep(0.5)
    assert passed == 4
    # A key in no plan, and no key at all: 403.
    assert c.get("/limited/1", headers={"Authorization": "Bearer key-unknown"}).status_code == 403
    assert c.get("/limited/1", headers={"Authorization": "Bearer ok"}).status_code == 403
    assert c.delete("/_local/usage-plans").status_code == 204
    assert c.get("/limited/1", headers=slow).status_code == 200
