"""The real stack (tests/e2e/stack.py): an upload's previews appear within seconds of its completion,
made by the previews function from the completion copy's S3 event; print-check; delete removes them."""

from __future__ import annotations

import io
import time

import pytest
import requests
from PIL import Image

from tests.e2e.stack import StackHandle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(shared_stack: StackHandle) -> StackHandle:
    return shared_stack  # tests/local/conftest.py: one stack per worker


def phone_photo() -> bytes:
    """2000 x 1500 stored, EXIF Orientation 6: displayed 1500 x 2000; red on the left as stored."""
    image = Image.new("RGB", (2000, 1500), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 1000, 1500))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 31.0, 12.5)})
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85, exif=exif)
    return buffer.getvalue()


def test_previews_appear_after_an_upload_completes(stack: StackHandle) -> None:
    data = phone_photo()
    base, headers = stack.base_url, {"Authorization": f"Bearer {stack.mint_token('t1', 'u1')}"}
    created = requests.post(
        f"{base}/uploads",
        headers=headers,
        timeout=30,
        json={"filename": "p.jpg", "contentType": "image/jpeg", "sizeBytes": len(data)},
    )
    assert created.status_code == 201, created.text
    upload, file_id = created.json()["upload"], created.json()["fileId"]
    posted = requests.post(upload["url"], data=upload["fields"], files={"file": ("p.jpg", data)}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    completed = requests.post(f"{base}/uploads/{file_id}/complete", headers=headers, timeout=30)
    assert completed.status_code == 200, completed.text

    deadline, body = time.monotonic() + 60, completed.json()
    while body["previewStatus"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.5)
        body = requests.get(f"{base}/files/{file_id}", headers=headers, timeout=30).json()

    assert body["previewStatus"] == "ready", body
    assert (body["width"], body["height"]) == (1500, 2000)
    thumb = requests.get(body["previews"]["thumb"]["url"], timeout=30)
    assert thumb.status_code == 200
    image = Image.open(io.BytesIO(thumb.content))
    assert image.format == "JPEG" and image.size == (240, 320) and b"Exif" not in thumb.content
    assert image.getpixel((120, 60))[0] > 200, "the stored left half (red) is shown on top"

    check = requests.get(
        f"{base}/files/{file_id}/print-check",
        params={"widthMm": "127", "heightMm": "101.6"},
        headers=headers,
        timeout=30,
    )
    assert check.status_code == 200 and check.json() == {"dpi": 375.0, "verdict": "good"}  # 2000 px / 5 in
    bad = requests.get(f"{base}/files/{file_id}/print-check", params={"widthMm": "x"}, headers=headers, timeout=30)
    assert bad.status_code == 400

    assert requests.delete(f"{base}/files/{file_id}", headers=headers, timeout=30).status_code == 204
    assert requests.get(body["previews"]["thumb"]["url"], timeout=30).status_code in (403, 404)
