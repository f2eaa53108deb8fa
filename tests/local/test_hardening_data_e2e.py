"""Issue 24's small hostile inputs over HTTP against the local stack: print sizes that divided by zero
or gave a DPI of Infinity, a number that overflows a double, line and paragraph separators in a
filename, malformed origins that a wildcard reflected. Each a clear 4xx with a JSON error body (or no
CORS grant). One stack for the module."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.e2e.stack import StackHandle
from tests.support.images import png

pytestmark = pytest.mark.e2e

TENANT = "hardening-data"  # of its own on the shared stack


@pytest.fixture(scope="module")
def stack(shared_stack: StackHandle) -> StackHandle:
    return shared_stack  # tests/local/conftest.py: one stack per worker


def headers(stack: StackHandle) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.mint_token(TENANT, 'alice')}"}


def error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The response is `status` with the API's JSON error body of `code`; its error object."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return dict(body["error"])


@pytest.fixture(scope="module")
def photo(stack: StackHandle) -> str:
    """An available file of alice's (64 x 48 PNG)."""
    data = png()
    created = requests.post(
        f"{stack.base_url}/uploads",
        headers=headers(stack),
        timeout=60,
        json={"filename": "p.png", "contentType": "image/png", "sizeBytes": len(data)},
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    posted = requests.post(
        ticket["upload"]["url"], data=ticket["upload"]["fields"], files={"file": ("f", data)}, timeout=60
    )
    assert posted.status_code == 204, posted.text
    completed = requests.post(
        f"{stack.base_url}/uploads/{ticket['fileId']}/complete", headers=headers(stack), timeout=60
    )
    assert completed.status_code == 200, completed.text
    return str(ticket["fileId"])


@pytest.mark.parametrize(
    ("width", "height", "named"),
    [
        ("5e-324", "100", "widthMm"),  # a 500 (ZeroDivisionError) before
        ("1e-308", "100", "widthMm"),  # {"dpi": Infinity} before: not JSON
        ("100", "0.5", "heightMm"),
        ("100", "1e308", "heightMm"),
        ("-0", "100", "widthMm"),
    ],
)
def test_a_print_size_out_of_bounds_is_400_naming_the_field(
    stack: StackHandle, photo: str, width: str, height: str, named: str
) -> None:
    response = requests.get(
        f"{stack.base_url}/files/{photo}/print-check",
        headers=headers(stack),
        timeout=60,
        params={"widthMm": width, "heightMm": height},
    )
    assert named in error(response, 400, "bad_request")["message"]


def test_the_smallest_print_size_answers_a_finite_dpi(stack: StackHandle, photo: str) -> None:
    response = requests.get(
        f"{stack.base_url}/files/{photo}/print-check",
        headers=headers(stack),
        timeout=60,
        params={"widthMm": "1", "heightMm": "1"},
    )
    assert response.status_code == 200, response.text
    assert isinstance(json.loads(response.text, parse_constant=lambda c: pytest.fail(c))["dpi"], float)


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1.7976931348623159e308"])
def test_a_number_that_overflows_a_double_is_400(stack: StackHandle, photo: str, number: bytes) -> None:
    raw = (
        b'{"name": "P", "productType": "book", "document": {"pages": [], "zoom": '
        + number
        + b'}, "fileIds": ["'
        + photo.encode()
        + b'"]}'
    )
    response = requests.post(
        f"{stack.base_url}/projects",
        data=raw,
        timeout=60,
        headers={**headers(stack), "Content-Type": "application/json"},
    )
    assert "too large" in error(response, 400, "bad_request")["message"]


@pytest.mark.parametrize("filename", ["a\u2028.png", "a\u2029.png", "\u2028"])
def test_a_filename_with_a_line_or_paragraph_separator_is_400(stack: StackHandle, filename: str) -> None:
    response = requests.post(
        f"{stack.base_url}/uploads",
        headers=headers(stack),
        timeout=60,
        json={"filename": filename, "contentType": "image/png", "sizeBytes": 10},
    )
    error(response, 400, "bad_request")


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:@evil.example",  # reflected before: `*` was `.+`
        "http://localhost:1@evil.example",
        "http://localhost:80/evil",
        "http://localhost:80.evil.example",
        "http://127.0.0.1:@evil.example",
    ],
)
def test_a_malformed_origin_gets_no_cors_grant(stack: StackHandle, photo: str, origin: str) -> None:
    response = requests.get(f"{stack.base_url}/files/{photo}", timeout=60, headers={**headers(stack), "Origin": origin})
    assert response.status_code == 200, response.text
    assert "Access-Control-Allow-Origin" not in response.headers
    good = requests.get(
        f"{stack.base_url}/files/{photo}", timeout=60, headers={**headers(stack), "Origin": "http://localhost:5173"}
    )
    assert good.headers.get("Access-Control-Allow-Origin") == "http://localhost:5173"
