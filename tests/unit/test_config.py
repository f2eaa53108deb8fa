"""Tenant link templates (share links, the mobile upload page)."""

from __future__ import annotations

import pytest

from imagestore.config import link_from_template


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{public_base_url}/shares/{token}", "https://api.example/prod/shares/tok"),
        (
            "https://shop.example/s/{token}?from={public_base_url}",
            "https://shop.example/s/tok?from=https://api.example/prod",
        ),
        ("https://shop.example/upload#token={token}&again={token}", "https://shop.example/upload#token=tok&again=tok"),
        ("https://shop.example/{lang}/{token}", "https://shop.example/{lang}/tok"),
        ("https://shop.example/fixed", "https://shop.example/fixed"),
    ],
)
def test_a_template_gets_the_base_url_and_the_token_and_keeps_everything_else(template: str, expected: str) -> None:
    assert link_from_template(template, "https://api.example/prod/", "tok") == expected


def test_a_token_or_base_url_that_looks_like_a_placeholder_is_not_filled_again() -> None:
    assert (
        link_from_template("{public_base_url}/{token}", "https://x.example/{token}", "t")
        == "https://x.example/{token}/t"
    )
