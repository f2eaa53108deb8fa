"""GET /openapi.json of a REST API: its OpenAPI document, without the authorizer.

The document is generated at build time (make openapi) and packaged beside each service's handlers; the
handler made here only reads it once per container: no models, no Powertools, nothing built at cold start.
Like every function it resumes the garbage collector that importing the layer pauses in Lambda
(imagestore.startup)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from imagestore.startup import resume_gc_after_first_call


def document_handler(document: Path) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The handler that answers the document at `document` (read at its first call)."""

    @cache
    def body() -> str:
        return document.read_text(encoding="utf-8")

    @resume_gc_after_first_call
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "statusCode": 200,
            # Public and the same for every tenant: any origin may read it (Swagger UI, editors' tooling).
            "headers": {
                "Content-Type": "application/json",
                "Cache-Control": "max-age=300",
                "Access-Control-Allow-Origin": "*",
            },
            "body": body(),
        }

    return handler
