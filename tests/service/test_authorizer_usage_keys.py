"""The authorizer names each tenant's API key to API Gateway (usageIdentifierKey, API key source
AUTHORIZER): a tenant listed in deploy/usage-plans.yml has its own key on each API, the others share
one; the keys are the values deploy/usage-plans.js gives the usage plans."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from imagestore.config import get_settings
from tests.support.events import LambdaContext
from tests.support.tokens import mint


@pytest.fixture
def authorizer(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("IMAGESTORE_STAGE", "prod")
    monkeypatch.setenv("IMAGESTORE_USAGE_TENANTS", "shop-a,shop.b")
    get_settings.cache_clear()
    from file_service.handlers import authorizer as module

    yield module.handler
    get_settings.cache_clear()


def answer(handler: Any, token: str, method: str, resource: str) -> dict[str, Any]:
    path = resource.replace("{fileId}", "f1").replace("{projectId}", "p1")
    event = {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/{method}{path}",
        "resource": resource, "path": path, "httpMethod": method,
        "headers": {"Authorization": f"Bearer {token}"},
        "multiValueHeaders": {"Authorization": [f"Bearer {token}"]},
        "queryStringParameters": None, "pathParameters": None, "stageVariables": None,
        "requestContext": {"path": f"/prod{path}", "accountId": "123456789012", "resourceId": "x",
                           "stage": "prod", "requestId": "r1", "identity": {"sourceIp": "127.0.0.1"},
                           "resourcePath": resource, "httpMethod": method, "apiId": "abc123"},
    }
    return handler(event, LambdaContext())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("tenant", "method", "resource", "key"),
    [
        ("shop-a", "POST", "/uploads", "prod/file/tenant/shop-a"),
        ("shop-a", "GET", "/files/{fileId}", "prod/file/tenant/shop-a"),
        ("shop-a", "PUT", "/projects/{projectId}", "prod/project/tenant/shop-a"),
        ("shop.b", "POST", "/orders", "prod/project/tenant/shop.b"),
        ("shop-c", "POST", "/mobile-uploads", "prod/file/shared"),
        ("shop-c", "GET", "/cart-items", "prod/project/shared"),
    ],
)
def test_the_tenants_key_on_the_api_called(authorizer: Any, tenant: str, method: str, resource: str, key: str) -> None:
    result = answer(authorizer, mint(tenant=tenant), method, resource)
    # deploy/usage-plans.js gives the keys these values (tests/deploy/test_usage_plans.py compares them).
    assert result["usageIdentifierKey"] == "imagestore" + hashlib.sha256(key.encode()).hexdigest()[:48]
    assert result["usageIdentifierKey"].isalnum() and 20 <= len(result["usageIdentifierKey"]) <= 128
    assert result["context"]["tenantId"] == tenant
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
