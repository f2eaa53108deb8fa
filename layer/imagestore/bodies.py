"""Base of the API's request and response bodies.

Apart from imagestore.api so that logic used outside the REST API (the S3 ObjectCreated function)
does not import Powertools' event handler with it (cold start).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Annotated, Any

from pydantic import BaseModel, Field

from imagestore.errors import BadRequest, PayloadTooLarge

# A request body is at most 4 MiB: room for the largest project document (1 MB compact, more when
# pretty-printed) under API Gateway's 10 MB, and small enough to parse well within a function's time.
MAX_BODY_BYTES = 4 * 1024 * 1024
# Nesting deeper than this is refused before parsing: json.loads recurses once per level.
MAX_JSON_DEPTH = 64

# Escapes first (bytes.replace), then strings: each pass is one linear scan in C (benchmarks/json_depth.py).
# One pattern for both, '"[^"\\]*(?:\\.[^"\\]*)*"', restarted its search at every escaped quote of an
# unterminated string: quadratic, hours for a 4 MiB body of \".
_PLAIN_STRING = re.compile(rb'"[^"]*"')
_BRACKETS = b"[{]}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_NESTING = bytes.maketrans(_BRACKETS, b"\x01\x01\xff\xff")  # opening +1, closing -1 (signed bytes)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

# An instant as the API writes it (imagestore.clock.iso: ISO 8601 UTC, `2026-11-30T10:00:00Z`): documented
# as `format: date-time`, so generated clients read it as a date-time, not a bare string.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class ApiModel(BaseModel):
    """Base of request and response bodies: camelCase on the wire.

    Each model's validator is built when it is first used (defer_build), so a function builds only
    the bodies of the route it serves, not every model of its service (cold start)."""

    model_config = {
        "alias_generator": lambda name: _camel(name),
        "populate_by_name": True,
        "extra": "forbid",
        "defer_build": True,
    }

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body parsed as a JSON object: UTF-8, at most MAX_BODY_BYTES (else 413) and
    MAX_JSON_DEPTH levels deep, no NaN or Infinity, no unpaired surrogate; anything else is a 400."""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is over {MAX_BODY_BYTES} bytes", details={"maxBytes": MAX_BODY_BYTES})
    if not raw.strip():
        raise BadRequest("a JSON request body is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid UTF-8 (byte {exc.start})") from exc
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise BadRequest(
            f"request body is nested more than {MAX_JSON_DEPTH} levels deep", details={"maxDepth": MAX_JSON_DEPTH}
        )
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRequest("request body has a \\u escape of an unpaired surrogate") from exc
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data


def json_depth(raw: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest, counted without parsing it (brackets
    inside strings do not count); linear, in C: four passes over the text and one over its brackets.

    Escaped backslashes are removed first, left to right as JSON reads them (of a run of backslashes,
    an odd one is left before the next byte), then escaped quotes, so that each string ends at the next
    quote; then the strings go.
    A string left open runs to the end: `"[^"]*"` fails there once, and no quote follows it to retry
    from. Text that is no JSON may be miscounted; json.loads refuses it afterwards."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    nesting = _PLAIN_STRING.sub(b"", unescaped).translate(_NESTING, _NOT_BRACKETS)
    return max(accumulate(memoryview(nesting).cast("b")), default=0)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent, refused when it overflows a double (1e400 would be
    stored as null: nothing reads back what was sent). Integers stay exact Python ints."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large")
    return number
