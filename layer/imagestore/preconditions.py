"""Conditional requests: the version an `If-Match` header names."""

from __future__ import annotations

import re

from imagestore.errors import BadRequest, PreconditionRequired

MAX_VERSION_DIGITS = 9  # a version is a count of saves: nine digits are far beyond any project's life

# `3`, `"3"` or `W/"3"`: ASCII digits only (str.isdigit() also accepts '²' and '३', int() then fails or lies).
_DIGITS = f"[0-9]{{1,{MAX_VERSION_DIGITS}}}"
_VERSION = re.compile(f'(?:W/)?"({_DIGITS})"|({_DIGITS})', re.ASCII)


def parse_if_match(value: str | None) -> int:
    """The version named by If-Match (`3`, `"3"` or `W/"3"`); 428 without it, 400 if it names no version."""
    if value is None or not value.strip():
        raise PreconditionRequired("this update needs If-Match: <version>")
    match = _VERSION.fullmatch(value.strip())
    version = int(match.group(1) or match.group(2)) if match else 0
    if version < 1:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise BadRequest(
            f"If-Match must name a version: 1 to {MAX_VERSION_DIGITS} digits, quoted or not, not {shown!r}"
        )
    return version


def etag(version: int) -> str:
    """The ETag of a resource's version: the version, quoted (what If-Match takes back)."""
    return f'"{version}"'


def none_match(value: str | None, version: int) -> bool:
    """Whether If-None-Match names this version (`"3"`, `W/"3"`, `3`, a comma-separated list, or `*`),
    so that a GET answers 304 Not Modified. Compared weakly, as RFC 9110 says for If-None-Match;
    anything that names no version matches nothing."""
    if value is None:
        return False
    for part in value.split(","):
        tag = part.strip()
        if tag == "*":
            return True
        match = _VERSION.fullmatch(tag)
        if match and int(match.group(1) or match.group(2)) == version:
            return True
    return False
