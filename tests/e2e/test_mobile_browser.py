"""The phone's mobile upload page in a real headless browser (Debian's chromium driven by Playwright),
against the local stack: QR code (an <img> of the create answer's data URL) -> page -> two photos
uploaded -> the desktop sees them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.stack import ROOT, StackHandle, running_stack
from tests.support.images import image_bytes
from tests.unit.test_qr import decode

CHROMIUM = Path("/usr/bin/chromium")
# Kept as a CI artifact; reports/ is ignored by git.
SCREENSHOT = ROOT / "reports" / "e2e" / "mobile-upload.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.e2e,
    # On a developer's machine without the browser, skip; in CI (CI=true) a missing browser is a failure.
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed: run deploy/install-browser.sh",
    ),
]


def api(stack: StackHandle, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return requests.request(method, stack.base_url + path, headers=headers, timeout=15, **kwargs)


def test_the_phone_page_uploads_two_photos_that_the_desktop_then_lists(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is not installed: run deploy/install-browser.sh"

    photos = []
    for n, color in ((1, "orange"), (2, "teal")):
        photo = tmp_path / f"photo-{n}.jpg"
        photo.write_bytes(image_bytes("JPEG", (1200, 900), color))
        photos.append(photo)

    with running_stack(tmp_path / "stack") as stack:
        desktop = stack.mint_token("shop-a", "alice", session="s1")
        response = api(stack, "POST", "/mobile-uploads", desktop, json={"retention": "extended"})
        assert response.status_code == 201, response.text
        created = response.json()
        upload_id, phone_token = created["mobileUploadId"], created["token"]
        assert created["qr"]["dataUrl"].startswith("data:image/svg+xml")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                # The desktop shows the QR as an <img> of the answer's data URL, as it is; a decoder that is
                # not the encoder (OpenCV) reads the page URL back from what the browser drew.
                desktop_page = browser.new_page(viewport={"width": 400, "height": 400})
                desktop_page.set_content(
                    '<body style="margin:0;background:#fff"><img id="qr" width="360" height="360"></body>'
                )
                desktop_page.locator("#qr").evaluate("(img, src) => { img.src = src; }", created["qr"]["dataUrl"])
                expect(desktop_page.locator("#qr")).to_have_js_property("complete", True)
                assert desktop_page.locator("#qr").evaluate("img => img.naturalWidth") > 0
                page_url = decode(desktop_page.locator("#qr").screenshot())
                assert page_url == created["url"] and page_url.startswith(f"{stack.base_url}/mobile#token=")

                page = browser.new_page(
                    viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
                )
                page.goto(page_url)
                expect(page.locator("#status")).to_contain_text("Choose photos", timeout=15_000)
                expect(page.locator("#limits")).to_contain_text("Up to 50 photos")

                page.set_input_files("#choose", [str(p) for p in photos])

                expect(page.locator("#status")).to_contain_text("2 photos have arrived", timeout=30_000)
                rows = page.locator("#queue li")
                expect(rows).to_have_count(2)
                for i in range(2):
                    expect(rows.nth(i)).to_have_class("ok")
                    expect(rows.nth(i).locator(".note")).to_contain_text("Arrived")
                    assert rows.nth(i).locator("progress").evaluate("bar => bar.value") == 1
                expect(page.locator("#arrived li")).to_have_count(2)
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)

                # A file the shop does not accept is refused with the API's reason; the others stay.
                gif = tmp_path / "anim.gif"
                gif.write_bytes(image_bytes("GIF", (40, 30)))
                page.set_input_files("#choose", [str(gif)])
                refused = page.locator("#queue li").nth(2)
                expect(refused).to_have_class("failed", timeout=15_000)
                expect(refused.locator(".note")).to_contain_text("Refused: content type image/gif is not accepted")
                expect(page.locator("#status")).to_contain_text("1 of 1 photos were not accepted")

                # The desktop sees both photos, in its own session, readable through their download URLs.
                response = api(stack, "GET", f"/mobile-uploads/{upload_id}", desktop)
                assert response.status_code == 200, response.text
                files = response.json()["files"]
                assert sorted(f["filename"] for f in files) == ["photo-1.jpg", "photo-2.jpg"]
                assert all(f["status"] == "available" and f["retention"] == "extended" for f in files)
                for f in files:
                    original = tmp_path / f["filename"]
                    assert requests.get(f["downloadUrl"], timeout=15).content == original.read_bytes()

                # The phone's token cannot list the user's files or projects.
                assert api(stack, "GET", "/files", phone_token).status_code == 403
                assert api(stack, "GET", "/projects", phone_token).status_code == 403

                # Revoked on the desktop: the page says so clearly.
                assert api(stack, "DELETE", f"/mobile-uploads/{upload_id}", desktop).status_code == 204
                page.reload()
                expect(page.locator("#status")).to_contain_text("switched off", timeout=15_000)
                expect(page.locator("#picker")).to_be_hidden()

                # Past its link window (the local clock moved on), a new link is refused clearly.
                response = api(stack, "POST", "/mobile-uploads", desktop, json={"retention": "session"})
                assert response.status_code == 201, response.text
                requests.post(f"{stack.base_url}/_local/clock", json={"advanceSeconds": 3601}, timeout=5)
                late = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
                late.goto(response.json()["url"])
                expect(late.locator("#status")).to_contain_text("has expired", timeout=15_000)
                expect(late.locator("#picker")).to_be_hidden()
            finally:
                browser.close()
