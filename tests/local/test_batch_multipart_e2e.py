"""Batches, multipart resume and SHA-256 checksums end to end through the local stack and its S3
(SeaweedFS), driven by the operationIds of the served /openapi.json: SeaweedFS itself refuses bytes
whose x-amz-checksum-sha256 differs (POST and parts) and parts of another size than signed. The browser
uploader (Uppy, services/file/web/uploader) in Debian's chromium on the same stack's demo page."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.stack import ROOT, StackHandle
from tests.e2e.test_mobile_browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.images import image_bytes, jpeg, large_jpeg

pytestmark = pytest.mark.e2e

PART = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def stack(shared_stack: StackHandle) -> StackHandle:
    return shared_stack  # tests/local/conftest.py: one stack per worker


@pytest.fixture(scope="module")
def api(stack: StackHandle) -> Any:
    """Call an operation by its operationId, as the document names its method and path."""
    document = requests.get(f"{stack.base_url}/openapi.json", timeout=30).json()
    operations = {
        op["operationId"]: (method.upper(), path)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }
    headers = {"Authorization": f"Bearer {stack.mint_token('t1', 'mp-user')}"}

    def call(operation_id: str, body: Any = None, **path: str) -> requests.Response:
        method, template = operations[operation_id]
        return requests.request(
            method, stack.base_url + template.format(**path), json=body, headers=headers, timeout=60
        )

    return call


def sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_batch_of_tickets_with_a_wrong_checksum_is_refused_by_the_store(api: Any) -> None:
    good, bad = jpeg((30, 20)), jpeg((31, 20))
    files = [
        {"filename": f"p{n}.jpg", "contentType": "image/jpeg", "sizeBytes": len(d), "sha256": sha256(d)}
        for n, d in enumerate((good, bad))
    ]
    answer = api("requestUploads", {"files": files})
    assert answer.status_code == 200, answer.text
    tickets = [i["ticket"] for i in answer.json()["items"]]

    sent = []
    for ticket, data in ((tickets[0], good), (tickets[1], good)):  # the second sends other bytes than declared
        upload = ticket["upload"]
        sent.append(requests.post(upload["url"], data=upload["fields"], files={"file": ("f", data)}, timeout=60))

    assert sent[0].status_code == 204
    assert sent[1].status_code == 400 and "BadDigest" in sent[1].text
    done = api("completeUploads", {"fileIds": [t["fileId"] for t in tickets]}).json()
    assert [i["status"] for i in done["items"]] == [200, 409]  # nothing was stored for the second
    assert done["items"][0]["file"]["status"] == "available"


def test_a_cut_multipart_upload_resumes_with_only_the_missing_part(api: Any, stack: StackHandle) -> None:
    data = large_jpeg(2 * PART + 5000)
    created = api(
        "createMultipartUpload",
        {
            "filename": "big.jpg",
            "contentType": "image/jpeg",
            "sizeBytes": len(data),
            "partSizeBytes": PART,
            "sha256": sha256(data),
        },
    )
    assert created.status_code == 201, created.text
    file_id = created.json()["fileId"]
    parts = [{"partNumber": n, "sha256": sha256(data[(n - 1) * PART : n * PART])} for n in (1, 2, 3)]
    signed = api("signMultipartParts", {"parts": parts}, fileId=file_id).json()["parts"]

    def put(part: dict[str, Any], body: bytes) -> requests.Response:
        return requests.put(part["url"], data=body, headers=part["headers"], timeout=60)

    assert put(signed[0], data[:PART]).status_code == 200
    # A part of other bytes (same size) is refused by its checksum; one longer than signed by its signature.
    assert put(signed[1], bytes(PART)).status_code == 400
    assert put(signed[2], data[2 * PART :] + b"x").status_code == 403
    assert put(signed[2], data[2 * PART :]).status_code == 200
    # The cut: part 2 never arrived. The client lists the parts and sends only that one.
    listed = api("listMultipartParts", fileId=file_id).json()
    assert listed["missingPartNumbers"] == [2]
    assert api("completeMultipartUpload", fileId=file_id).status_code == 409
    again = api("signMultipartParts", {"parts": [parts[1]]}, fileId=file_id).json()["parts"]
    assert put(again[0], data[PART : 2 * PART]).status_code == 200

    out_of_order = api(
        "completeMultipartUpload", {"parts": [{"partNumber": 2}, {"partNumber": 1}, {"partNumber": 3}]}, fileId=file_id
    )
    assert out_of_order.status_code == 400
    done = api("completeMultipartUpload", fileId=file_id)

    assert done.status_code == 200, done.text
    assert done.json()["status"] == "available"
    file = api("getFile", fileId=file_id).json()
    assert requests.get(file["downloadUrl"], timeout=60).content == data


def test_malformed_batches_are_4xx(api: Any) -> None:
    one = {"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10}
    assert api("requestUploads", {"files": [one] * 101}).status_code == 400
    mixed = api("requestUploads", {"files": [one, {"filename": ""}, 3]})
    assert mixed.status_code == 200 and [i["status"] for i in mixed.json()["items"]] == [201, 400, 400]
    assert api("completeUploads", {"fileIds": ["x"] * 101}).status_code == 400
    repeated = api("completeUploads", {"fileIds": ["x", "x"]})
    assert repeated.status_code == 200 and [i["status"] for i in repeated.json()["items"]] == [404, 400]


# ---- the browser uploader (Uppy) on the stack's demo page

BROWSER = pytest.mark.skipif(
    # On a developer's machine without the browser (or the bundle), skip; in CI (CI=true) they must be there.
    not os.environ.get("CI") and not (CHROMIUM.exists() and (ROOT / "build/web/uploader/uploader.js").exists()),
    reason="Debian's chromium (deploy/install-browser.sh) or the uploader's bundle (make uploader) is missing",
)
UPLOADER_SCREENSHOT = ROOT / "reports" / "e2e" / "uploader.png"
COLORS = ["orange", "teal", "navy", "olive", "maroon", "purple", "gray", "gold", "pink", "brown"]
BIG_BYTES = 12_000_000  # above the page's 10 MiB multipart threshold: 2 parts, 8 MiB and 3.6 MB


def _api(stack: StackHandle, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return requests.request(method, stack.base_url + path, headers=headers, timeout=15, **kwargs)


def _uploaded_count(page: Any) -> int:
    return int(
        page.evaluate(
            "() => window.imagestoreDemo ? window.imagestoreDemo.uppy.getFiles()"
            ".filter(f => f.progress.uploadComplete).length : 0"
        )
    )


@BROWSER
def test_the_browser_uploader_sends_a_folder_of_20_photos_across_a_reload_and_saves_a_project(
    stack: StackHandle, tmp_path: Path
) -> None:
    """The browser uploader (services/file/web/uploader: Uppy wired to the API) in Debian's chromium, driven
    by Playwright on the stack's demo page (GET /demo/uploader): a folder of 20 photos, one large enough for
    a multipart upload, a page reload half-way, every file available with its bytes, saved as a project."""
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
            while (_uploaded_count(page) < 19 or not held) and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            assert _uploaded_count(page) == 19 and held, (_uploaded_count(page), len(held))
            part_1 = [u for m, u in seen if m == "PUT" and "partNumber=1" in u]
            assert len(part_1) == 1
            assert not page.locator('#files li[data-status="available"]').count()  # none completed yet
            page.wait_for_timeout(1500)  # Golden Retriever saves its state at most every 500 ms

            holding.clear()
            page.unroute("**/*")
            seen.clear()
            page.reload()
            expect(page.locator("#status")).to_contain_text("All 20 photos are uploaded", timeout=45_000)
            UPLOADER_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(UPLOADER_SCREENSHOT), full_page=True)

            # After the reload: the parts S3 has were listed, only the missing parts were sent; no new
            # tickets; the photos completed in one completeUploads call.
            puts = [u for m, u in seen if m == "PUT"]
            assert not [u for u in puts if "partNumber=1&" in u or u.endswith("partNumber=1")], puts
            assert len(puts) == 1 and "partNumber=2" in puts[0], puts  # part 2 only
            assert any(m == "GET" and u.endswith("/parts") for m, u in seen)
            assert not [u for m, u in seen if m == "POST" and u.endswith("/upload-batches")]
            assert len([u for m, u in seen if m == "POST" and u.endswith("/upload-batches/complete")]) == 1

            rows = page.locator("#files li")
            expect(rows).to_have_count(20)
            ids = {rows.nth(i).inner_text().strip(): rows.nth(i).get_attribute("data-file-id") for i in range(20)}
            assert set(ids) == set(originals) and all(ids.values())
            for name, file_id in ids.items():
                response = _api(stack, "GET", f"/files/{file_id}", token)
                assert response.status_code == 200, response.text
                file = response.json()
                assert file["status"] == "available" and file["filename"] == name
                assert requests.get(file["downloadUrl"], timeout=30).content == originals[name], name

            page.locator("#project-name").fill("Summer book")
            page.locator("#save-project").click()
            expect(page.locator("#project")).to_contain_text("Saved project", timeout=15_000)
            project_id = page.locator("#project").get_attribute("data-project-id")
            response = _api(stack, "GET", f"/projects/{project_id}", token)
            assert response.status_code == 200, response.text
            project = response.json()
            assert project["name"] == "Summer book"
            assert sorted(f["fileId"] for f in project["files"]) == sorted(ids.values())

            # Another user cannot read these files.
            other = stack.mint_token("shop-a", "bob", session="s2")
            assert _api(stack, "GET", f"/files/{ids['panorama.jpg']}", other).status_code == 404
        finally:
            browser.close()
