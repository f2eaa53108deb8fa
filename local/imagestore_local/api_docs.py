"""GET /openapi.json (the merged OpenAPI document, docs/openapi.json) and GET /docs (Swagger UI from the
swagger-ui-dist npm package, served from disk: nothing loads from the internet). No token needed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from werkzeug.security import safe_join
from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response

DOCUMENT = "docs/openapi.json"
SWAGGER_UI_DIR = "node_modules/swagger-ui-dist"
DOCUMENT_PATH = "/openapi.json"
DOCS_PATH = "/docs"
# The files of swagger-ui-dist the page loads.
ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
        "favicon-16x16.png",
        "oauth2-redirect.html",
    }
)

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>imagestore API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      validatorUrl: null,
      persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout"
    });
  </script>
</body>
</html>
"""


def respond(root: Path, request: Request) -> Response | None:
    """The answer for the document and docs paths; None for any other path."""
    path = request.path
    if path != DOCUMENT_PATH and path != DOCS_PATH and not path.startswith(DOCS_PATH + "/"):
        return None
    if request.method not in ("GET", "HEAD"):
        return _error(405, "method_not_allowed", f"{request.method} is not allowed on {path}", {"Allow": "GET, HEAD"})
    if path == DOCUMENT_PATH:
        return _document(root, request)
    if path in (DOCS_PATH, DOCS_PATH + "/", DOCS_PATH + "/index.html"):
        return Response(PAGE, mimetype="text/html", headers={"Cache-Control": "no-cache"})
    name = path.removeprefix(DOCS_PATH + "/")
    asset = safe_join(str(root / SWAGGER_UI_DIR), name) if name in ASSETS else None
    if asset is None or not os.path.isfile(asset):
        hint = "" if (root / SWAGGER_UI_DIR).is_dir() else " (swagger-ui-dist is not installed: run npm ci)"
        return _error(404, "not_found", f"No page at {path}{hint}")
    return send_file(asset, request.environ, max_age=3600)


def _document(root: Path, request: Request) -> Response:
    """The committed merged document, its server set to the URL this stack was reached at."""
    try:
        document = json.loads((root / DOCUMENT).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _error(404, "not_found", f"{DOCUMENT} is missing: run make openapi")
    document["servers"] = [{"url": request.host_url.rstrip("/"), "description": "This local stack"}]
    return Response(json.dumps(document), mimetype="application/json", headers={"Cache-Control": "no-cache"})


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return Response(body, status=status, mimetype="application/json", headers=headers)
