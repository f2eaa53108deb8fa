"""GET /openapi.json: this REST API's OpenAPI document, without the authorizer (imagestore.openapi_document)."""

from __future__ import annotations

from pathlib import Path

from imagestore.openapi_document import document_handler

# services/<service>/openapi.json locally, /var/task/openapi.json in Lambda.
handler = document_handler(Path(__file__).resolve().parents[2] / "openapi.json")
