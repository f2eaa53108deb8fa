"""Base of the API's request and response bodies.

Apart from imagestore.api so that logic used outside the REST API (the S3 ObjectCreated function)
does not import Powertools' event handler with it (cold start).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ApiModel(BaseModel):
    """Base of request and response bodies: camelCase on the wire.

    Each model's validator is built when it is first used (defer_build), so a function builds only
    the bodies of the route it serves, not every model of its service (cold start)."""

    model_config = {"alias_generator": lambda name: _camel(name), "populate_by_name": True,
                    "extra": "forbid", "defer_build": True}

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
