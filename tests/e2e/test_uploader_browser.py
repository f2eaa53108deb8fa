"""The browser uploader (services/file/web/uploader: Uppy wired to the API) in Debian's chromium, driven by
Playwright against the local stack's demo page (GET /demo/uploader): a folder of 20 photos, one of them
large enough for a multipart upload, a page reload half-way, every file available with its bytes, saved
as a project."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.stack import ROOT, StackHandle, running_stack
from tests.e2e.test_mobile_browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.images import image_bytes, large_jpeg

SCREENSHOT = ROOT / "reports" / "e2e" / "uploader.png"
COLORS = ["orange", "teal", "navy", "olive", "maroon", "purple", "gray", "gold", "pink", "brown"]
BIG_BYTES = 20_000_000  # above the page's 10 MiB multipart threshold: 3 parts of 8 MiB, the last 3.2 MB

pytestmark = [
    pytest.mark.e2e,
    # On a developer's machine without the browser, skip; in CI (CI=true) a missing browser is a failure.
    pytest.mark.skipif(
        not CHROMIUM.exists() and not __import__("os").environ.get("CI"),
        reason="Debian's chromium is not installed: run deploy/install-browser.sh",
    ),
    pytest.mark.skipif(
        not (ROOT / "build/web/uploader/uploader.js").exists(), reason="the uploader is not built: run make uploader"
    ),
]


def api(stack: StackHandle, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return requests.request(method, stack.base_url + path, headers=headers, timeout=15, **kwargs)


def uploaded_count(page: Any) -> int:
    return int(
        page.evaluate(
            "() => window.imagestoreDemo ? window.imagestoreDemo.uppy.getFiles()"
            ".filter(f => f.progress.uploadComplete).length : 0"
        )
    )


def test_a_folder_of_20_photos_with_a_multipart_one_survives_a_reload_and_becomes_a_project(tmp_path: Path) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    folder = tmp_path / "book"
    folder.mkdir()
    originals: dict[str, bytes] = {}
    for n in range(19):
        data = image_bytes("JPEG", (640 + 8 * n, 480), COLORS[n % len(COLORS)])
        originals[f"photo-{n:02}.jpg"] = data
    originals["panorama.jpg"] = large_jpeg(BIG_BYTES, (320, 240))
    for name, data in originals.items():
        (folder / name).write_bytes(data)

    with running_stack(tmp_path / "stack") as stack:
        token = stack.mint_token("shop-a", "alice", session="s1")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                seen: list[tuple[str, str]] = []
                page.on("request", lambda r: seen.append((r.method, r.url)))
                # The "weak network": the multipart file's part 2 never gets through before the reload.
                held: list[Route] = []
                holding = threading.Event()
                holding.set()

                def hold_part_2(route: Route) -> None:
                    if holding.is_set():
                        held.append(route)  # left unanswered: the reload drops it
                    else:
                        route.continue_()

                page.route(lambda url: "partNumber=2&" in url or url.endswith("partNumber=2"), hold_part_2)
                page.goto(f"{stack.base_url}/demo/uploader#token={token}")
                expect(page.locator("#status")).to_contain_text("Choose photos", timeout=15_000)
                page.locator("input.uppy-Dashboard-input[webkitdirectory]").set_input_files(folder)
                expect(page.locator("#files li")).to_have_count(20, timeout=10_000)
                page.locator(".uppy-StatusBar-actionBtn--upload").click()

                # Half-way: the 19 photos' bytes are in S3, the large file's part 1 too, part 2 is stuck.
                deadline = time.monotonic() + 30
                while (uploaded_count(page) < 19 or not held) and time.monotonic() < deadline:
                    page.wait_for_timeout(200)
                assert uploaded_count(page) == 19 and held, (uploaded_count(page), len(held))
                part_1 = [u for m, u in seen if m == "PUT" and "partNumber=1" in u]
                assert len(part_1) == 1
                assert not page.locator('#files li[data-status="available"]').count()  # none completed yet
                page.wait_for_timeout(1500)  # Golden Retriever saves its state at most every 500 ms

                holding.clear()
                page.unroute("**/*")
                seen.clear()
                page.reload()
                expect(page.locator("#status")).to_contain_text("All 20 photos are uploaded", timeout=45_000)
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)

                # After the reload: the parts S3 has were listed, only the missing parts were sent; no new
                # tickets; the photos completed in one completeUploads call.
                puts = [u for m, u in seen if m == "PUT"]
                assert not [u for u in puts if "partNumber=1&" in u or u.endswith("partNumber=1")], puts
                assert len(puts) == 2, puts
                assert any(m == "GET" and u.endswith("/parts") for m, u in seen)
                assert not [u for m, u in seen if m == "POST" and u.endswith("/upload-batches")]
                assert len([u for m, u in seen if m == "POST" and u.endswith("/upload-batches/complete")]) == 1

                rows = page.locator("#files li")
                expect(rows).to_have_count(20)
                ids = {rows.nth(i).inner_text().strip(): rows.nth(i).get_attribute("data-file-id") for i in range(20)}
                assert set(ids) == set(originals) and all(ids.values())
                for name, file_id in ids.items():
                    response = api(stack, "GET", f"/files/{file_id}", token)
                    assert response.status_code == 200, response.text
                    file = response.json()
                    assert file["status"] == "available" and file["filename"] == name
                    assert requests.get(file["downloadUrl"], timeout=30).content == originals[name], name

                page.locator("#project-name").fill("Summer book")
                page.locator("#save-project").click()
                expect(page.locator("#project")).to_contain_text("Saved project", timeout=15_000)
                project_id = page.locator("#project").get_attribute("data-project-id")
                response = api(stack, "GET", f"/projects/{project_id}", token)
                assert response.status_code == 200, response.text
                project = response.json()
                assert project["name"] == "Summer book"
                assert sorted(f["fileId"] for f in project["files"]) == sorted(ids.values())

                # Another user cannot read these files.
                other = stack.mint_token("shop-a", "bob", session="s2")
                assert api(stack, "GET", f"/files/{ids['panorama.jpg']}", other).status_code == 404
            finally:
                browser.close()
