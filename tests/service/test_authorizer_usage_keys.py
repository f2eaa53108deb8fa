"""The authorizer names each tenant's API key to API Gateway (usageIdentifierKey, API key source
AUTHORIZER): a tenant whose registry entry names a usage plan the stage deploys (deploy/usage-plans.yml)
gets that plan's key on each API, the others share one; the keys are the values deploy/usage-plans.js
gives the usage plans."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.models.tenants import TenantRecord
from tests.conftest import Aws
from tests.support.events import LambdaContext, api_event
from tests.support.tokens import mint


@pytest.fixture
def authorizer(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("IMAGESTORE_STAGE", "prod")
    monkeypatch.setenv("IMAGESTORE_USAGE_PLANS", "gold,silver")
    get_settings.cache_clear()
    registry = factory.tenant_registry()
    for tenant, plan in (("shop-a", "gold"), ("shop.b", "silver"), ("shop-d", "platinum"), ("shop-e", None)):
        registry.put(TenantRecord(tenant_id=tenant, display_name=tenant, usage_plan=plan), 0)
    from file_service.handlers import authorizer as module

    yield module.handler
    get_settings.cache_clear()


def answer(handler: Any, token: str, method: str, resource: str) -> dict[str, Any]:
    path = resource.replace("{fileId}", "f1").replace("{projectId}", "p1")
    event = {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/{method}{path}",
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Authorization": f"Bearer {token}"},
        "multiValueHeaders": {"Authorization": [f"Bearer {token}"]},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "path": f"/prod{path}",
            "accountId": "123456789012",
            "resourceId": "x",
            "stage": "prod",
            "requestId": "r1",
            "identity": {"sourceIp": "127.0.0.1"},
            "resourcePath": resource,
            "httpMethod": method,
            "apiId": "abc123",
        },
    }
    return handler(event, LambdaContext())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("tenant", "method", "resource", "key"),
    [
        ("shop-a", "POST", "/uploads", "prod/file/plan/gold"),
        ("shop-a", "GET", "/files/{fileId}", "prod/file/plan/gold"),
        ("shop-a", "PUT", "/projects/{projectId}", "prod/project/plan/gold"),
        ("shop.b", "POST", "/orders", "prod/project/plan/silver"),
        # Not registered, registered on no plan, on a plan this stage does not deploy: the shared key.
        ("shop-c", "POST", "/mobile-uploads", "prod/file/shared"),
        ("shop-c", "GET", "/cart-items", "prod/project/shared"),
        ("shop-d", "GET", "/cart-items", "prod/project/shared"),
        ("shop-e", "POST", "/uploads", "prod/file/shared"),
    ],
)
def test_the_tenants_key_on_the_api_called(authorizer: Any, tenant: str, method: str, resource: str, key: str) -> None:
    result = answer(authorizer, mint(tenant=tenant), method, resource)
    # deploy/usage-plans.js gives the keys these values (tests/deploy/test_usage_plans.py compares them).
    assert result["usageIdentifierKey"] == "imagestore" + hashlib.sha256(key.encode()).hexdigest()[:48]
    assert result["usageIdentifierKey"].isalnum() and 20 <= len(result["usageIdentifierKey"]) <= 128
    assert result["context"]["tenantId"] == tenant
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"


LIMITS = (
    '{"": {"rateLimit": 5000, "burstLimit": 2500, "quotaPerDay": 200000000}, '
    '"gold": {"rateLimit": 20, "burstLimit": 20, "quotaPerDay": 1000}}'
)


@pytest.mark.parametrize(
    ("tenant", "policy"),
    [
        ("shop-a", '"rate";q=20;w=1, "day";q=1000;w=86400'),  # its own plan
        ("shop-c", '"rate";q=2500;w=1, "day";q=200000000;w=86400'),  # not registered: the shared plan
        ("shop-d", '"rate";q=2500;w=1, "day";q=200000000;w=86400'),  # a plan the stage does not deploy
    ],
)
def test_the_authorizer_states_the_plans_policy_and_the_function_answers_it(
    authorizer: Any, monkeypatch: pytest.MonkeyPatch, tenant: str, policy: str
) -> None:
    monkeypatch.setenv("IMAGESTORE_USAGE_PLAN_LIMITS", LIMITS)
    get_settings.cache_clear()
    result = answer(authorizer, mint(tenant=tenant), "GET", "/files")
    assert result["context"]["rateLimitPolicy"] == policy

    # A function copies it from its authorizer context onto its answer, errors included.
    from imagestore.api import Resolver

    app = Resolver()

    @app.get("/files")
    def _files() -> dict[str, Any]:
        return {"items": []}

    for path, status in (("/files", 200), ("/nowhere", 404)):
        event = api_event("GET", path, principal=None, headers={})
        event["requestContext"]["authorizer"] = dict(result["context"])
        response = app.resolve(event, LambdaContext())
        headers = response.get("multiValueHeaders") or {k: [v] for k, v in (response.get("headers") or {}).items()}
        assert response["statusCode"] == status
        assert headers["RateLimit-Policy"] == [policy]


def test_without_limits_no_policy_is_stated(authorizer: Any) -> None:
    result = answer(authorizer, mint(tenant="shop-a"), "GET", "/files")
    assert "rateLimitPolicy" not in result["context"]
