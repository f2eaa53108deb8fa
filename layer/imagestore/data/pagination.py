"""Opaque pagination cursors that cannot reach outside the caller's own partition."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from imagestore import keys
from imagestore.errors import InvalidCursor

if TYPE_CHECKING:
    from imagestore.data.table import Item, Table

MAX_LIMIT = 100
DEFAULT_LIMIT = 25
# A cursor is the base64 of a flat JSON object of a few key attributes, each printable ASCII and within
# DynamoDB's key sizes (2,048 bytes for a partition key, 1,024 for a sort key): what ours ever holds.
MAX_CURSOR_CHARS = 2048
_KEY_VALUE = re.compile(r"[\x21-\x7e]{1,1024}")
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class Page(BaseModel):
    """One page of a list: its items and the cursor of the next page (None on the last)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, defer_build=True)

    items: list[Any] = Field(default_factory=list)
    next_cursor: str | None = None


def encode_cursor(last_key: Mapping[str, Any] | None) -> str | None:
    """The LastEvaluatedKey as an opaque URL-safe string."""
    if not last_key:
        return None
    raw = json.dumps(dict(last_key), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(
    cursor: str | None, *, exact: Mapping[str, str], prefixes: Mapping[str, str]
) -> dict[str, str] | None:
    """The start key a cursor names, if it stays within `exact` (equal values) and `prefixes`.

    A cursor is just the last key of the previous page; what makes it safe is that every
    attribute in it must be one the caller's own query would produce. Anything else is a 400.
    """
    if cursor is None or cursor == "":
        return None
    if len(cursor) > MAX_CURSOR_CHARS or not _CURSOR_CHARS.fullmatch(cursor):
        raise InvalidCursor("cursor is not one this API issued")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if raw.count(b"{") + raw.count(b"[") > 1:  # ours is one flat object: never parse anything nested
            raise ValueError("nested")
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    allowed = set(exact) | set(prefixes)
    if (
        not isinstance(key, dict)
        or set(key) != allowed
        or not all(isinstance(v, str) and _KEY_VALUE.fullmatch(v) for v in key.values())
        or any(key[name] != value for name, value in exact.items())
        or any(not key[name].startswith(prefix) for name, prefix in prefixes.items())
    ):
        raise InvalidCursor("cursor is not one this API issued for this list")
    return key


def newest_first_in_gsi1(
    table: Table, gsi1pk: str, pk_prefix: str, *, limit: int, cursor: str | None
) -> tuple[list[Item], str | None]:
    """One page of the META items a user's list in gsi1 holds (projects, cart items), newest first,
    and the next page's cursor; a cursor must point inside that same list (pk under pk_prefix)."""
    start = decode_cursor(cursor, exact={"gsi1pk": gsi1pk, "sk": keys.META}, prefixes={"pk": pk_prefix, "gsi1sk": ""})
    items, last = table.query_page(
        index="gsi1", key_condition="gsi1pk = :pk", values={":pk": gsi1pk}, limit=limit, forward=False, start_key=start
    )
    return items, encode_cursor(last)


def clamp_limit(limit: int | None) -> int:
    """The page size: the client's, within 1..MAX_LIMIT."""
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(MAX_LIMIT, limit))
