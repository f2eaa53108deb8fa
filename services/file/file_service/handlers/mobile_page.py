"""GET /mobile, /mobile/{asset}: the phone's upload page (services/file/web/mobile), served by the stage.

The QR code's default URL opens it (file_service.logic.mobile_uploads.DEFAULT_PAGE). The page is the
same for everyone (the upload's token is in the URL's fragment, never sent here); its API base and its
assets' addresses are this stage's public base URL, and its Content-Security-Policy allows scripts,
styles and connections only from there, plus the image bucket for the uploads and thumbnails.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from imagestore.config import get_settings
from imagestore.startup import resume_gc_after_first_call

# services/file/web/mobile locally, /var/task/web/mobile in Lambda (serverless.yml's package patterns).
PAGE_DIR = Path(__file__).resolve().parents[2] / "web" / "mobile"
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


@cache
def asset_body(name: str) -> str:
    """The asset's text; index.html with this stage's API base and absolute asset addresses."""
    text = (PAGE_DIR / name).read_text(encoding="utf-8")
    if name != "index.html":
        return text
    base = get_settings().public_base_url.rstrip("/")
    return (
        text.replace('<meta name="imagestore-api" content="">', f'<meta name="imagestore-api" content="{base}">')
        .replace('href="style.css"', f'href="{base}/mobile/style.css"')
        .replace('src="app.js"', f'src="{base}/mobile/app.js"')
    )


@cache
def content_security_policy() -> str:
    """Nothing inline, nothing from elsewhere: this API's origin, and the bucket's for uploads and previews."""
    from urllib.parse import urlsplit

    from imagestore.data import factory

    parts = urlsplit(get_settings().public_base_url)
    api = f"{parts.scheme}://{parts.netloc}"
    bucket = " ".join(factory.image_bucket().browser_origins())
    return (
        f"default-src 'none'; script-src {api}; style-src {api}; img-src {api} {bucket} blob: data:; "
        f"connect-src {api} {bucket}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _not_found(asset: str) -> dict[str, Any]:
    return {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": {"code": "not_found", "message": f"no page asset {asset}"}}),
    }


@resume_gc_after_first_call
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    asset = (event.get("pathParameters") or {}).get("asset") or "index.html"
    if asset not in ASSETS:
        return _not_found(asset)
    return {
        "statusCode": 200,
        "headers": {
            "Content-Type": ASSETS[asset],
            "Content-Security-Policy": content_security_policy(),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
        "body": asset_body(asset),
    }
