"""Cursors: opaque, and useless outside the caller's own partition."""

from __future__ import annotations

import base64
import json

import pytest

from imagestore.data.pagination import clamp_limit, decode_cursor, encode_cursor
from imagestore.errors import InvalidCursor

OWN = {"exact": {"pk": "T#a#U#alice"}, "prefixes": {"sk": "FILE#"}}


def test_round_trip() -> None:
    key = {"pk": "T#a#U#alice", "sk": "FILE#01"}
    assert decode_cursor(encode_cursor(key), **OWN) == key
    assert encode_cursor(None) is None
    assert decode_cursor(None, **OWN) is None


@pytest.mark.parametrize(
    "key",
    [
        {"pk": "T#a#U#bob", "sk": "FILE#01"},
        {"pk": "T#a#U#alice", "sk": "HOLD#01"},
        {"pk": "T#a#U#alice", "sk": "FILE#01", "gsi1pk": "x"},
        {"pk": "T#a#U#alice"},
        {"pk": "T#a#U#alice", "sk": 5},
    ],
)
def test_a_cursor_outside_the_callers_partition_is_refused(key: dict[str, object]) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, **OWN)


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", "W10", "\u00e9"])
def test_garbage_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, **OWN)


def test_limit_is_clamped() -> None:
    assert clamp_limit(None) == 25
    assert clamp_limit(0) == 1
    assert clamp_limit(10_000) == 100


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _b64(b"[" * 5000 + b"]" * 5000),  # nested: never reaches json.loads' recursion
        _b64(b'{"pk": "T#a#U#alice", "sk": {"S": "FILE#01"}}'),
        _b64(b'{"pk": "T#a#U#alice", "sk": ""}'),  # an empty key value: DynamoDB's ValidationException
        _b64(b'{"pk": "T#a#U#alice", "sk": "FILE#' + b"x" * 1100 + b'"}'),  # over the sort key's size
        _b64(b'{"pk": "T#a#U#alice", "sk": "FILE#01 \\n"}'),
        _b64(b'{"pk": "T#a#U#alice", "sk": "FILE#\\u00e9"}'),
        "A" * 2049,
        "eyJ==x",
        "e30.",
    ],
)
def test_a_cursor_of_another_shape_or_size_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, **OWN)


def test_an_empty_prefix_still_needs_a_value() -> None:
    cursor = _b64(json.dumps({"gsi1pk": "G", "gsi1sk": ""}).encode())
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, exact={"gsi1pk": "G"}, prefixes={"gsi1sk": ""})
