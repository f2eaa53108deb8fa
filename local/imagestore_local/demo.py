"""GET /demo/uploader: the uploader demo page (services/file/web/uploader, bundled by `make uploader` into
build/web/uploader), served by the local stack only (no stage has it). No token needed to load the page;
it asks for one (or takes #token=... from the URL) and talks to this stack's API and bucket."""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

from werkzeug.security import safe_join
from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response

from imagestore_local.config_loader import Project

BUILD_DIR = "build/web/uploader"
PATH = "/demo/uploader"
ASSETS = {
    "uploader.js": "text/javascript",
    "uploader.js.map": "application/json",
    "uploader.js.LEGAL.txt": "text/plain",
    "uploader.css": "text/css",
    "demo.js": "text/javascript",
    "demo.css": "text/css",
}


def respond(project: Project, s3_endpoint: str, request: Request) -> Response | None:
    """The page or one of its assets; None for any other path."""
    path = request.path
    if path != PATH and not path.startswith(PATH + "/"):
        return None
    if request.method not in ("GET", "HEAD"):
        return _error(405, "method_not_allowed", f"{request.method} is not allowed on {path}", {"Allow": "GET, HEAD"})
    name = path.removeprefix(PATH).lstrip("/") or "index.html"
    if name != "index.html" and name not in ASSETS:
        return _error(404, "not_found", f"No page at {path}")
    asset = safe_join(str(project.root / BUILD_DIR), name)
    if asset is None or not os.path.isfile(asset):
        return _error(404, "not_found", f"No page at {path} (the uploader is not built: run make uploader)")
    response = send_file(asset, request.environ, mimetype=ASSETS.get(name, "text/html"), max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = content_security_policy(s3_endpoint)
    return response


def content_security_policy(s3_endpoint: str) -> str:
    """Scripts and styles from this stack only; connections to it and to its S3 (uploads)."""
    parts = urlsplit(s3_endpoint)
    bucket = f"{parts.scheme}://{parts.netloc}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' {bucket} blob: data:; connect-src 'self' {bucket}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return Response(body, status=status, mimetype="application/json", headers=headers)
