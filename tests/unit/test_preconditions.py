"""If-Match: a version of ASCII digits, quoted or weak, bounded; 428 without it, 400 for anything else."""

from __future__ import annotations

import pytest

from imagestore.errors import BadRequest, PreconditionRequired
from imagestore.preconditions import parse_if_match


@pytest.mark.parametrize(
    ("value", "version"),
    [
        ("3", 3),
        ('"3"', 3),
        ('W/"3"', 3),
        (" 3 ", 3),
        ("007", 7),
        ("999999999", 999_999_999),
    ],
)
def test_a_version_quoted_weak_or_bare_is_read(value: str, version: int) -> None:
    assert parse_if_match(value) == version


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_if_match_is_428(value: str | None) -> None:
    with pytest.raises(PreconditionRequired):
        parse_if_match(value)


@pytest.mark.parametrize(
    "value",
    [
        "\u00b2",  # '²' passes str.isdigit()
        'W/"\u00b3"',  # '³', weak
        "\u0663",  # Arabic-Indic three: int() would read it
        "5" * 5000,  # past Python's int conversion limit
        "1234567890",  # ten digits: over the bound
        "abc",
        "0",
        '"0"',
        "-1",
        "+1",
        "1.0",
        "3 4",
        '"3',
        "W/3",
        'w/"3"',
        '""',
        "*",
        "\x00",
    ],
)
def test_anything_but_a_version_is_400(value: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_if_match(value)
    assert len(raised.value.message) < 200


def test_if_none_match_names_a_version_weakly_in_a_list_or_by_star() -> None:
    from imagestore.preconditions import etag, none_match

    assert etag(3) == '"3"'
    assert none_match('"3"', 3) and none_match('W/"3"', 3) and none_match("3", 3)
    assert none_match('"1", W/"3"', 3) and none_match("*", 3)
    assert not none_match(None, 3) and not none_match('"2"', 3) and not none_match("", 3)
    assert not none_match('"abc"', 3) and not none_match('"03x"', 3)
