"""The mobile upload's QR code and page URL: decoded by OpenCV, which is not the encoder (segno)."""

from __future__ import annotations

import re
from types import ModuleType

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


def test_the_png_decodes_to_the_local_page_url_with_the_token_in_the_fragment(rules: ModuleType) -> None:
    url = rules.page_url(TenantSettings(), "http://127.0.0.1:3000/", TOKEN)

    assert url == f"http://127.0.0.1:3000/mobile#token={TOKEN}"
    assert decode(rules.qr_png(url)) == url


def test_the_png_decodes_to_the_tenants_own_page(rules: ModuleType) -> None:
    tenant = TenantSettings(mobile_upload_url_template="https://shop.example/upload?lang=de#token={token}")
    url = rules.page_url(tenant, "http://127.0.0.1:3000", TOKEN)

    assert decode(rules.qr_png(url)) == f"https://shop.example/upload?lang=de#token={TOKEN}"


def test_the_svg_is_an_inline_element_of_the_same_code(rules: ModuleType) -> None:
    svg = rules.qr_svg(rules.page_url(TenantSettings(), "http://127.0.0.1:3000", TOKEN))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg
    assert re.search(r'viewBox="0 0 \d+ \d+"', svg)
