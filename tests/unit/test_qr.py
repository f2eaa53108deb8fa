"""The mobile upload's QR code and page URL: decoded by OpenCV, which is not the encoder (segno). The browser
draws the create answer's data URL in tests/e2e/test_mobile_browser.py."""

from __future__ import annotations

import io
import re
from types import ModuleType
from urllib.parse import unquote

import cv2
import numpy as np
import pytest

from imagestore.config import TenantSettings
from imagestore.models.mobile_uploads import mobile_upload_token

TOKEN = mobile_upload_token("shop-a", "01jabcdefghjkmnpqrstvwxyz0", "Zm9vYmFyYmF6cXV4LWJsYWgtYmxhaC1ibGFo")


def decode(png: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None, "not a PNG OpenCV can read"
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert points is not None, "no QR code found in the image"
    return str(text)


@pytest.fixture
def rules(env: None) -> ModuleType:
    """Imported per test, not at collection: the service's modules build their metrics from the
    environment the test fixtures set."""
    from file_service.logic import mobile_uploads

    return mobile_uploads


def png_of(rules: ModuleType, url: str) -> bytes:
    """The code drawn as PNG (what the data URL's SVG shows, in pixels OpenCV reads)."""
    buffer = io.BytesIO()
    rules.qr_matrix(url).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def test_the_png_decodes_to_the_local_page_url_with_the_token_in_the_fragment(rules: ModuleType) -> None:
    url = rules.page_url(TenantSettings(), "http://127.0.0.1:3000/", TOKEN)

    assert url == f"http://127.0.0.1:3000/mobile#token={TOKEN}"
    assert decode(png_of(rules, url)) == url


def test_the_png_decodes_to_the_tenants_own_page(rules: ModuleType) -> None:
    tenant = TenantSettings(mobile_upload_url_template="https://shop.example/upload?lang=de#token={token}")
    url = rules.page_url(tenant, "http://127.0.0.1:3000", TOKEN)

    assert decode(png_of(rules, url)) == f"https://shop.example/upload?lang=de#token={TOKEN}"


def test_the_svg_is_an_inline_element_of_the_same_code(rules: ModuleType) -> None:
    svg = rules.qr_code(rules.page_url(TenantSettings(), "http://127.0.0.1:3000", TOKEN)).svg
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg
    assert re.search(r'viewBox="0 0 \d+ \d+"', svg)


def test_the_data_url_is_an_svg_image_of_the_same_code(rules: ModuleType) -> None:
    url = rules.page_url(TenantSettings(), "http://127.0.0.1:3000", TOKEN)
    qr = rules.qr_code(url)

    head, _, body = qr.data_url.partition(",")
    assert head == "data:image/svg+xml;charset=utf-8"
    image = unquote(body)
    assert image.startswith("<svg") and "xmlns=" in image and image.rstrip().endswith("</svg>")
    # One path draws the modules: the same path (the same code) as the inline <svg>'s.
    paths = [re.search(r' d="([^"]+)"', svg.replace("'", '"')) for svg in (image, qr.svg)]
    assert paths[0] is not None and paths[1] is not None
    assert paths[0].group(1) == paths[1].group(1)
