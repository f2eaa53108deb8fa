"""Request bodies: a JSON object of bounded size and depth, UTF-8, or a 400 (413 over the size)."""

from __future__ import annotations

import time

import pytest

from imagestore.bodies import MAX_BODY_BYTES, MAX_JSON_DEPTH, json_depth, json_object
from imagestore.errors import BadRequest, PayloadTooLarge


def test_a_json_object_is_parsed() -> None:
    assert json_object(b'{"a": [1, {"b": "[[[{{{"}], "c": "\\ud83d\\ude00"}') == {
        "a": [1, {"b": "[[[{{{"}],
        "c": "\U0001f600",
    }


@pytest.mark.parametrize(
    ("raw", "depth"),
    [(b"{}", 1), (b'{"a": [[]]}', 3), (b'["]]]]", "\\"[[["]', 1), (b'"just a string"', 0), (b"[" * 10_000, 10_000)],
)
def test_depth_is_counted_outside_strings(raw: bytes, depth: int) -> None:
    assert json_depth(raw) == depth


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "required"),
        (b"   ", "required"),
        (b"[" * 10_000 + b"]" * 10_000, "nested"),
        (b'{"a": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}", "nested"),
        (b'{"name": "\xff\xfe"}', "UTF-8"),
        (b'{"name": "\xed\xa0\x80"}', "UTF-8"),  # an encoded surrogate is not UTF-8
        (b'{"name": "\\ud800"}', "surrogate"),
        (b'{"n": NaN}', "not valid JSON"),
        (b'{"n": -Infinity}', "not valid JSON"),
        (b'{"document": {"n": 1e400}}', "too large"),  # issue 24: stored as null before
        (b'{"n": -1.5e309}', "too large"),
        (b'{"a": 1', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"null", "JSON object"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),
    ],
)
def test_bad_bodies_are_400(raw: bytes, reason: str) -> None:
    with pytest.raises(BadRequest) as refused:
        json_object(raw)
    assert reason in refused.value.message


def test_the_deepest_accepted_body() -> None:
    depth = MAX_JSON_DEPTH - 1
    assert json_depth(b'{"a": ' + b"[" * depth + b"]" * depth + b"}") == MAX_JSON_DEPTH
    json_object(b'{"a": ' + b"[" * depth + b"]" * depth + b"}")


def test_a_body_over_the_limit_is_413_before_it_is_parsed() -> None:
    started = time.perf_counter()
    with pytest.raises(PayloadTooLarge):
        json_object(b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}')
    assert time.perf_counter() - started < 5  # refused by its length, never scanned (generous: CI is busy)


def test_a_body_at_the_limit_of_brackets_is_checked_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(BadRequest):
        json_object(b"[" * (MAX_BODY_BYTES - 1))
    assert time.perf_counter() - started < 10  # linear, in C: about 0.3 s on an idle machine


# Bodies on which the old string pattern ('"[^"\\]*(?:\\.[^"\\]*)*"', one pass for escapes and strings)
# restarted at every escaped quote: 48 KB of \" took it 11 s, these 4 MiB would take it hours. Each is
# counted exactly here; `benchmarks/json_depth.py` prints the seconds of both ways.
_HALF = MAX_BODY_BYTES // 2


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b'\\"' * _HALF, 0),  # escaped quotes, no string ever closes
        (b'"' + b'\\"' * (_HALF - 1), 0),  # one string left open, full of escaped quotes
        (b'["' + b'\\"[' * (_HALF // 2) + b'"]', 1),  # brackets inside one long string with escapes
        (b"[" + b'"\\\\",' * (_HALF // 3) + b"]", 1),  # escaped backslashes end their strings
        (b'{"a": "\\\\\\"[[[", "b": [[' + b"x" * (MAX_BODY_BYTES - 40) + b"]]}", 3),
    ],
    ids=["escaped-quotes", "open-string", "brackets-in-string", "escaped-backslashes", "mixed"],
)
def test_depth_of_a_4_mib_body_of_escapes_is_counted_in_linear_passes(raw: bytes, depth: int) -> None:
    assert len(raw) <= MAX_BODY_BYTES
    assert json_depth(raw) == depth


def test_a_4_mib_body_of_escaped_quotes_is_a_400_not_minutes_of_cpu() -> None:
    with pytest.raises(BadRequest) as refused:
        json_object(b'{"a": "' + b'\\"' * (_HALF - 8))  # the string never closes
    assert "not valid JSON" in refused.value.message
