"""The phone's page as the stage serves it (the mobilePage function): the page with this stage's API base
and absolute asset addresses, its assets, a strict Content-Security-Policy naming only the API's and the
bucket's origins, and 404 for anything else."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Aws

PUBLIC = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"


@pytest.fixture
def page(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    from imagestore.config import get_settings

    monkeypatch.setenv("IMAGESTORE_PUBLIC_BASE_URL", PUBLIC)
    get_settings.cache_clear()
    from file_service.handlers import mobile_page

    mobile_page.asset_body.cache_clear()
    mobile_page.content_security_policy.cache_clear()
    yield mobile_page.handler
    mobile_page.asset_body.cache_clear()
    mobile_page.content_security_policy.cache_clear()


def get(handler: Any, asset: str | None) -> dict[str, Any]:
    event = {
        "httpMethod": "GET",
        "resource": "/mobile/{asset}" if asset else "/mobile",
        "pathParameters": {"asset": asset} if asset else None,
    }
    return handler(event, None)  # type: ignore[no-any-return]


def test_the_page_names_this_stages_api_and_its_own_assets(page: Any) -> None:
    answer = get(page, None)
    assert answer["statusCode"] == 200 and answer["headers"]["Content-Type"] == "text/html; charset=utf-8"
    body = answer["body"]
    assert f'<meta name="imagestore-api" content="{PUBLIC}">' in body
    assert f'src="{PUBLIC}/mobile/app.js"' in body and f'href="{PUBLIC}/mobile/style.css"' in body
    csp = dict(part.strip().split(" ", 1) for part in answer["headers"]["Content-Security-Policy"].split(";"))
    api = "https://abc123.execute-api.eu-west-1.amazonaws.com"
    assert csp["default-src"] == "'none'" and csp["script-src"] == api and csp["style-src"] == api
    assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'" and csp["form-action"] == "'none'"
    # The presigned POST and GET URLs' origin (moto's bucket endpoint), nothing else.
    sources = csp["connect-src"].split()
    assert sources[0] == api and len(sources) >= 2 and all(s.startswith("https://") for s in sources)
    assert all("imagestore-test-images" in s or "s3" in s for s in sources[1:])
    assert "unsafe-inline" not in answer["headers"]["Content-Security-Policy"]
    assert answer["headers"]["X-Content-Type-Options"] == "nosniff"


def test_the_assets_are_served_and_nothing_else(page: Any) -> None:
    script = get(page, "app.js")
    assert script["statusCode"] == 200 and script["headers"]["Content-Type"].startswith("text/javascript")
    assert "imagestore-api" in script["body"]
    assert get(page, "style.css")["headers"]["Content-Type"].startswith("text/css")
    for asset in ("../openapi.json", "nope.js", "index.htm"):
        missing = get(page, asset)
        assert missing["statusCode"] == 404 and '"not_found"' in missing["body"], asset
