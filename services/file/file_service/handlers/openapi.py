"""GET /openapi.json: this REST API's OpenAPI document, without the authorizer.

The document is generated at build time (make openapi) and packaged beside the handlers; this function
only reads it once per container: no models, no Powertools, nothing built at cold start. Like every
function it resumes the garbage collector that importing the layer pauses in Lambda (imagestore.startup)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from imagestore.startup import resume_gc_after_first_call

# services/<service>/openapi.json locally, /var/task/openapi.json in Lambda.
DOCUMENT = Path(__file__).resolve().parents[2] / "openapi.json"


@cache
def _document() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


@resume_gc_after_first_call
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        # Public and the same for every tenant: any origin may read it (Swagger UI, editors' tooling).
        "headers": {"Content-Type": "application/json", "Cache-Control": "max-age=300",
                    "Access-Control-Allow-Origin": "*"},
        "body": _document(),
    }
