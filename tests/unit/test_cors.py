"""Every answer of the functions, errors included, lets the allowed browser origins read it: the
stage's corsOrigins, narrowed by a tenant's own cors_origins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from imagestore import api, cors, errors
from imagestore.auth import Principal
from imagestore.config import get_settings
from imagestore.data import factory
from tests.support.events import LambdaContext, api_event

STAGE_ORIGINS = "https://*.shops.example,http://localhost:*"


class RegistryDocuments:
    """The registry's cached reader, over documents in memory."""

    def __init__(self, documents: dict[str, str]) -> None:
        self.documents = documents

    def get(self, name: str, max_age: int | None = None) -> str:
        return self.documents.get(name, "")


@pytest.fixture(autouse=True)
def origins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("IMAGESTORE_CORS_ORIGINS", STAGE_ORIGINS)
    # The tenant registry's entry of "narrow" (read through its cache, as in Lambda); t1 is not registered.
    documents = {
        "narrow": json.dumps(
            {"tenant_id": "narrow", "display_name": "Narrow", "settings": {"cors_origins": ["https://a.shops.example"]}}
        )
    }
    monkeypatch.setattr(factory, "tenant_documents", lambda: RegistryDocuments(documents))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _answer(origin: str | None, tenant: str = "t1", raised: Exception | None = None) -> dict[str, Any]:
    app = api.create_app()

    @app.get("/things")
    def _things() -> dict[str, Any]:
        if raised:
            raise raised
        return {"ok": True}

    headers = {"Origin": origin} if origin else {}
    event = api_event("GET", "/things", principal=Principal(tenant, "u1", "s1"), headers=headers)
    return app.resolve(event, LambdaContext())  # type: ignore[arg-type]


def header(response: dict[str, Any], name: str) -> str | None:
    values = response["multiValueHeaders"].get(name)
    return values[0] if values else None


@pytest.mark.parametrize("origin", ["https://a.shops.example", "https://b.shops.example", "http://localhost:5173"])
def test_an_allowed_origin_is_echoed(origin: str) -> None:
    response = _answer(origin)
    assert response["statusCode"] == 200
    assert header(response, "Access-Control-Allow-Origin") == origin
    assert header(response, "Access-Control-Expose-Headers") == cors.EXPOSED_HEADERS
    assert {"ETag", "Retry-After", "X-Amzn-RequestId", "RateLimit", "RateLimit-Policy"} <= {
        h.strip() for h in cors.EXPOSED_HEADERS.split(",")
    }
    assert header(response, "Vary") == "Origin"


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://shops.example", "https://a.shops.example.evil.example", "null", None]
)
def test_any_other_origin_gets_no_allow_origin(origin: str | None) -> None:
    response = _answer(origin)
    assert response["statusCode"] == 200
    assert header(response, "Access-Control-Allow-Origin") is None
    assert header(response, "Vary") == "Origin"


def test_errors_carry_cors_too() -> None:
    response = _answer("https://a.shops.example", raised=errors.NotFound("no such thing"))
    assert response["statusCode"] == 404
    assert header(response, "Access-Control-Allow-Origin") == "https://a.shops.example"
    unexpected = _answer("https://a.shops.example", raised=RuntimeError("boom"))
    assert unexpected["statusCode"] == 500
    assert header(unexpected, "Access-Control-Allow-Origin") == "https://a.shops.example"


def test_a_tenant_with_its_own_origins_is_readable_only_from_them() -> None:
    assert header(_answer("https://a.shops.example", tenant="narrow"), "Access-Control-Allow-Origin") == (
        "https://a.shops.example"
    )
    assert header(_answer("https://b.shops.example", tenant="narrow"), "Access-Control-Allow-Origin") is None
    # ...and only where the stage allows them (the preflight checks the stage's list).
    assert cors.cors_headers("https://x.example", ("https://*.shops.example",), ("https://x.example",)) == {
        "Vary": "Origin"
    }


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:@evil.example",  # issue 24: reflected before (`*` was `.+`)
        "http://localhost:1@evil.example",
        "http://localhost:80/evil",
        "http://localhost:80.evil.example",
        "http://localhost:",
        "http://localhost:123456",
        "https://evil.example/.shops.example",
        "https://evil.example?.shops.example",
        "https://evil.example#.shops.example",
        "https://evil.example:443.shops.example",
        "https://user@evil.example.shops.example:1",
        "https://a@b.shops.example",
        "https://-a.shops.example",
        "https://a..shops.example",
        "https://a_b.shops.example",
        "https://\u0430.shops.example",  # Cyrillic a: not a DNS label character
    ],
)
def test_a_malformed_origin_never_matches_a_wildcard(origin: str) -> None:
    assert not cors.origin_matches(origin, split_stage())
    assert header(_answer(origin), "Access-Control-Allow-Origin") is None


def test_a_wildcard_port_is_digits_and_a_wildcard_host_is_dns_labels() -> None:
    assert cors.origin_matches("http://localhost:5173", ["http://localhost:*"])
    assert cors.origin_matches("http://localhost:1", ["http://localhost:*"])
    assert cors.origin_matches("https://shop-1.shops.example", ["https://*.shops.example"])
    assert cors.origin_matches("https://a.b-2.shops.example", ["https://*.shops.example"])
    assert cors.origin_matches("https://anything.example", ["*"])


def split_stage() -> tuple[str, ...]:
    return cors.split_origins(STAGE_ORIGINS)


def test_wildcards_match_as_serverless_preflight_does() -> None:
    assert cors.origin_matches("https://a.b.shops.example", ["https://*.shops.example"])
    assert not cors.origin_matches("https://.shops.example", ["https://*.shops.example"])
    assert not cors.origin_matches("https://aXshops.example", ["https://a.shops.example"])
    assert not cors.origin_matches("", ["*"])
    assert cors.split_origins(" a, b ,,c") == ("a", "b", "c")
