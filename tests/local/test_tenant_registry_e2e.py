"""The real stack (tests/e2e/stack.py), as a platform team runs it: `imagestore-admin tenants put` of a
tenant with a 2-hour unsaved retention and a link template changes the next upload's expiry and the next
QR URL without a restart, `disable` turns its requests into 403 with the error body, a bad document is
refused with its field named, and `imagestore-admin smoke` passes and removes what it made."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pytest
import requests

from imagestore_admin import cli, smoke
from tests.e2e.stack import StackHandle

pytestmark = pytest.mark.e2e
T = TypeVar("T")


@pytest.fixture(scope="module")
def stack(shared_stack: StackHandle) -> StackHandle:
    return shared_stack  # tests/local/conftest.py: one stack per worker


def within(seconds: float, probe: Callable[[], T], done: Callable[[T], bool]) -> T:
    """probe() until done(result), for at most `seconds` (the registry's cache period on the local stage
    is 2 s); the last result either way."""
    deadline = time.monotonic() + seconds
    result = probe()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.25)
        result = probe()
    return result


def test_the_registry_changes_a_running_stack_and_the_smoke_test_passes(
    stack: StackHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = stack.base_url
    headers = {"Authorization": f"Bearer {stack.mint_token('shop-x', 'u1')}"}

    def upload_lifetime() -> float:
        created = requests.post(
            f"{base}/uploads",
            headers=headers,
            timeout=30,
            json={"filename": "p.jpg", "contentType": "image/jpeg", "sizeBytes": 100},
        )
        assert created.status_code == 201, created.text
        view = requests.get(f"{base}/files/{created.json()['fileId']}", headers=headers, timeout=30).json()
        return (datetime.fromisoformat(view["expiresAt"]) - datetime.fromisoformat(view["createdAt"])).total_seconds()

    def qr_url() -> str:
        created = requests.post(f"{base}/mobile-uploads", headers=headers, json={"retention": "session"}, timeout=30)
        assert created.status_code == 201, created.text
        return str(created.json()["url"]).split("#", 1)[0]

    def upload_status() -> requests.Response:
        return requests.post(
            f"{base}/uploads",
            headers=headers,
            timeout=30,
            json={"filename": "p.jpg", "contentType": "image/jpeg", "sizeBytes": 100},
        )

    # Not registered: the local stage serves unknown tenants on the defaults, and the stage's own page.
    assert upload_lifetime() == 6 * 3600
    assert qr_url() == f"{base}/mobile"

    document = tmp_path / "shop-x.json"
    document.write_text(
        json.dumps(
            {
                "tenant_id": "shop-x",
                "display_name": "Shop X",
                "settings": {
                    "session_retention_seconds": 7200,
                    "mobile_upload_url_template": "https://photos.shop-x.example/upload#token={token}",
                },
            }
        )
    )
    assert cli.main(["--local", base, "tenants", "put", str(document)]) == 0
    # Each function's execution environments keep their own cache: each sees it within the period.
    assert within(10, upload_lifetime, lambda seconds: seconds == 7200) == 7200
    page = "https://photos.shop-x.example/upload"
    assert within(10, qr_url, lambda url: url == page) == page

    assert cli.main(["--local", base, "tenants", "disable", "shop-x"]) == 0
    refused = within(10, upload_status, lambda response: response.status_code == 403)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "tenant_disabled", refused.text
    assert cli.main(["--local", base, "tenants", "enable", "shop-x"]) == 0
    assert within(10, upload_status, lambda response: response.status_code == 201).status_code == 201

    document.write_text(
        json.dumps({"tenant_id": "shop-x", "display_name": "Shop X", "settings": {"session_retention_seconds": -1}})
    )
    capsys.readouterr()
    assert cli.main(["--local", base, "tenants", "put", str(document)]) == 2
    assert "settings.session_retention_seconds" in capsys.readouterr().err
    assert cli.main(["--local", base, "tenants", "get", "shop-x"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"] == {
        "session_retention_seconds": 7200,
        "mobile_upload_url_template": "https://photos.shop-x.example/upload#token={token}",
    }

    # The smoke test, as `make smoke` runs it on a local stack (the operator's access: --local), by a user of
    # its own: what it made is gone, the order (imagestore-admin orders remove) and the photo it held too.
    token = stack.mint_token("smoke-shop", "smoke-user")
    assert cli.main(["--local", base, "smoke", "--base-url", base, "--token", token]) == 0, capsys.readouterr().out
    table = capsys.readouterr().out
    assert "smoke: 9 of 9 steps ok" in table and "removed order" in table and "kept" not in table, table
    assert "removed the revoked mobile upload" in table, table
    own = {"Authorization": f"Bearer {token}"}
    for listed in ("/files", "/projects", "/cart-items", "/orders", "/mobile-uploads"):
        assert requests.get(f"{base}{listed}", headers=own, timeout=30).json()["items"] == [], listed
    # Without the operator's access the order stays, and the table says how to remove it.
    other = stack.mint_token("smoke-shop", "smoke-user-2")
    assert smoke.main(base, other) == 0
    table = capsys.readouterr().out
    assert "kept order" in table and "imagestore-admin orders remove" in table, table
    [order] = requests.get(f"{base}/orders", headers={"Authorization": f"Bearer {other}"}, timeout=30).json()["items"]
    assert cli.main(["--local", base, "orders", "remove", "smoke-shop", order["orderId"]]) == 0
    assert cli.main(["--local", base, "orders", "remove", "smoke-shop", order["orderId"]]) == 1  # gone
