"""Issue 15 over HTTP against the local stack: every bad input a clear 4xx with a JSON error body,
verified bytes stay verified, a token means exactly what it says. One stack for the module."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from tests.e2e.stack import StackHandle, running_stack
from tests.support.images import (
    exif_with_thumbnail,
    heic,
    image_bytes,
    jpeg,
    motion_photo,
    mpf_jpeg,
    noisy_jpeg,
    png,
    with_segments,
)

pytestmark = pytest.mark.e2e

TINY = "tiny"  # a tenant with a low pixel limit


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    settings = json.dumps({TINY: {"max_pixels": 500_000}})
    with running_stack(
        tmp_path_factory.mktemp("hardening") / "data", extra_env={"IMAGESTORE_TENANT_SETTINGS": settings}
    ) as handle:
        yield handle


class Client:
    """One user of the stack."""

    def __init__(self, stack: StackHandle, tenant: str = "t1", user: str = "alice", token: str | None = None) -> None:
        self.base = stack.base_url
        self.headers = {"Authorization": f"Bearer {token or stack.mint_token(tenant, user)}"}

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        return requests.request(
            method,
            f"{self.base}{path}",
            json=body,
            data=data,
            params=params,
            timeout=60,
            headers={**self.headers, **(headers or {})},
        )

    def ticket(self, data: bytes, content_type: str = "image/png", filename: str = "p.png") -> dict[str, Any]:
        created = self.call(
            "POST", "/uploads", {"filename": filename, "contentType": content_type, "sizeBytes": len(data)}
        )
        assert created.status_code == 201, created.text
        return dict(created.json())

    def upload(self, data: bytes, content_type: str = "image/png", filename: str = "p.png") -> dict[str, Any]:
        ticket = self.ticket(data, content_type, filename)
        assert post(ticket, data) == 204
        return ticket

    def complete(self, ticket: dict[str, Any]) -> requests.Response:
        return self.call("POST", f"/uploads/{ticket['fileId']}/complete")


def post(ticket: dict[str, Any], data: bytes) -> int:
    upload = ticket["upload"]
    return requests.post(upload["url"], data=upload["fields"], files={"file": ("f", data)}, timeout=60).status_code


def error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The response is `status` with the API's JSON error body of `code`; its error object."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


@pytest.fixture(scope="module")
def project(stack: StackHandle) -> str:
    alice = Client(stack)
    ticket = alice.upload(png())
    assert alice.complete(ticket).status_code == 200
    created = alice.call(
        "POST",
        "/projects",
        {"name": "P", "productType": "book", "document": {"pages": []}, "fileIds": [ticket["fileId"]]},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["projectId"])


# --- bodies -----------------------------------------------------------------------------------------

DEEP = b"[" * 10_000 + b"]" * 10_000
ROUTES_WITH_BODIES = [
    ("POST", "/uploads"),
    ("POST", "/mobile-uploads"),
    ("POST", "/projects"),
    ("PUT", "/projects/{p}"),
    ("POST", "/projects/{p}/shares"),
    ("POST", "/cart-items"),
    ("POST", "/orders"),
]


@pytest.mark.parametrize(
    "raw",
    [
        DEEP,
        b'{"a": ' + DEEP + b"}",
        b'{"filename": "\xff\xfe\xfd.png", "contentType": "image/png", "sizeBytes": 10}',
        b'{"name": "\\ud800", "productType": "x"}',
        b'{"sizeBytes": NaN}',
    ],
    ids=["nested-array", "nested-in-object", "invalid-utf8", "lone-surrogate", "nan"],
)
def test_a_malformed_body_is_400_on_every_route_with_a_body(stack: StackHandle, project: str, raw: bytes) -> None:
    alice = Client(stack)
    for method, path in ROUTES_WITH_BODIES:
        response = alice.call(
            method, path.format(p=project), data=raw, headers={"Content-Type": "application/json", "If-Match": "1"}
        )
        error(response, 400, "bad_request")


def test_a_body_over_4_mib_is_413_and_a_document_over_1_mib_too(stack: StackHandle, project: str) -> None:
    alice = Client(stack)
    big = {"name": "P", "productType": "book", "document": {"text": "x" * (5 * 2**20)}, "fileIds": []}
    details = error(alice.call("POST", "/projects", big), 413, "payload_too_large")["details"]
    assert details == {"maxBytes": 4 * 2**20}
    doc = {"name": "P", "productType": "book", "document": {"text": "x" * (2**20 + 1)}, "fileIds": []}
    for method, path in (("POST", "/projects"), ("PUT", f"/projects/{project}")):
        refused = error(alice.call(method, path, doc, headers={"If-Match": "1"}), 413, "payload_too_large")
        assert refused["details"]["maxDocumentBytes"] == 2**20
    fits = {**doc, "document": {"text": "x" * (2**20 - 100)}}
    assert alice.call("POST", "/projects", fits).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"filename": "a.png", "contentType": "image/png", "sizeBytes": True}, "sizeBytes"),
        ({"filename": "a.png", "contentType": "image/png", "sizeBytes": "12"}, "sizeBytes"),
        ({"filename": "photo\u202egpj.exe", "contentType": "image/png", "sizeBytes": 10}, "filename"),
        ({"filename": "a\x7f.png", "contentType": "image/png", "sizeBytes": 10}, "filename"),
        ({"filename": "a\x85.png", "contentType": "image/png", "sizeBytes": 10}, "filename"),
        ({"filename": "a\u200d.png", "contentType": "image/png", "sizeBytes": 10}, "filename"),
    ],
)
def test_booleans_are_no_sizes_and_filenames_have_no_control_or_format_characters(
    stack: StackHandle, body: dict[str, Any], field: str
) -> None:
    refused = error(Client(stack).call("POST", "/uploads", body), 400, "bad_request")
    assert [p["field"] for p in refused["details"]["problems"]] == [field]


# --- If-Match and cursors ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["\u00b2", 'W/"\u00b3"', "5" * 5000, "abc", "0", '"1'])
def test_an_if_match_that_names_no_version_is_400(stack: StackHandle, project: str, value: str) -> None:
    body = {"name": "P", "productType": "book", "document": {}, "fileIds": []}
    headers = {"If-Match": value.encode("utf-8").decode("latin-1")} if not value.isascii() else {"If-Match": value}
    error(Client(stack).call("PUT", f"/projects/{project}", body, headers=headers), 400, "bad_request")


def test_a_missing_if_match_is_428(stack: StackHandle, project: str) -> None:
    body = {"name": "P", "productType": "book", "document": {}, "fileIds": []}
    error(Client(stack).call("PUT", f"/projects/{project}", body), 428, "precondition_required")


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(b"[" * 1000 + b"]" * 1000),
        _cursor(b'{"pk": "T#t1#U#alice", "sk": ""}'),
        _cursor(b'{"pk": "T#t1#U#alice", "sk": "FILE#' + b"x" * 1100 + b'"}'),
        _cursor(b'{"gsi1pk": "T#t1#U#alice#PROJECTS", "gsi1sk": "", "pk": "T#t1#P#x", "sk": "META"}'),
        "A" * 5000,
        "%%%",
    ],
)
def test_a_cursor_of_another_shape_is_400_on_every_list(stack: StackHandle, cursor: str) -> None:
    alice = Client(stack)
    for path in ("/files", "/projects", "/cart-items"):
        error(alice.call("GET", path, params={"cursor": cursor}), 400, "invalid_cursor")


# --- tokens -----------------------------------------------------------------------------------------


def _token(stack: StackHandle, **claims: Any) -> str:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "alice",
        "tid": "t1",
        "sid": "s1",
        "iss": "imagestore-local",
        "aud": "imagestore",
        "iat": now,
        "exp": now + 600,
    }
    base.update(claims)
    return jwt.encode(
        {k: v for k, v in base.items() if v is not ...}, stack.env["IMAGESTORE_JWT_SECRET"], algorithm="HS256"
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"tid": None},
        {"tid": 7},
        {"sid": ...},
        {"sub": ""},
        {"scope": False},
        {"scope": 0},
        {"scope": []},
        {"exp": "9999999999"},
        {"exp": 1e30},
        {"exp": int(time.time()) + 30 * 86400},
    ],
    ids=[
        "tid-null",
        "tid-int",
        "no-sid",
        "empty-sub",
        "scope-false",
        "scope-0",
        "scope-list",
        "exp-string",
        "exp-1e30",
        "exp-30-days",
    ],
)
def test_claims_of_the_wrong_type_are_401(stack: StackHandle, claims: dict[str, Any]) -> None:
    response = Client(stack, token=_token(stack, **claims)).call("GET", "/files")
    error(response, 401, "unauthorized")  # the gateway's answer, in the API's error shape


def test_a_token_stops_working_at_its_exp_even_while_the_authorizer_answer_is_cached(stack: StackHandle) -> None:
    exp = int(time.time()) - 25  # still inside the 30 s leeway: the authorizer accepts it, and caches that
    client = Client(stack, token=_token(stack, exp=exp))
    assert client.call("GET", "/files").status_code == 200
    time.sleep(max(0.0, exp + 31 - time.time()))
    refused = error(client.call("GET", "/files"), 401, "unauthorized")
    assert refused["message"] == "token has expired"


def test_a_share_token_in_a_refused_request_is_not_logged(stack: StackHandle, project: str) -> None:
    alice = Client(stack)
    share = alice.call("POST", f"/projects/{project}/shares", {"mode": "view", "expiresInDays": 1})
    assert share.status_code == 201, share.text
    token = share.json()["token"]
    error(Client(stack, token=_token(stack, tid=None)).call("GET", f"/shares/{token}"), 401, "unauthorized")
    assert Client(stack, user="bob").call("GET", f"/shares/{token}").status_code == 200
    time.sleep(0.5)
    log = stack.log_path.read_text(errors="replace")
    assert "token refused" in log and "/shares/{token}" in log
    assert token not in log


# --- files ------------------------------------------------------------------------------------------


def _bucket(stack: StackHandle, ticket: dict[str, Any]) -> tuple[Any, str]:
    url = urlsplit(ticket["upload"]["url"])
    return stack.s3_client(), url.path.strip("/")


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise  # a 403 (wrong credentials) must not read as "gone"
    return True


def test_bytes_posted_again_after_complete_or_delete_are_never_served(stack: StackHandle) -> None:
    alice = Client(stack)
    data = png((40, 30))
    ticket = alice.upload(data)
    assert alice.complete(ticket).status_code == 200
    file_id = ticket["fileId"]

    html = (b"<html><body>not a photo</body></html>" * 100)[: len(data)].ljust(len(data), b" ")
    assert post(ticket, html) == 204  # the presigned POST is still valid: it writes the staging key only
    assert alice.complete(ticket).json()["status"] == "available"
    url = alice.call("GET", f"/files/{file_id}").json()["downloadUrl"]
    assert requests.get(url, timeout=30).content == data

    assert alice.call("DELETE", f"/files/{file_id}").status_code == 204
    assert post(ticket, data) == 204
    s3, bucket = _bucket(stack, ticket)
    assert not _exists(s3, bucket, ticket["upload"]["fields"]["key"].removesuffix(".upload"))
    error(alice.call("GET", f"/files/{file_id}"), 404, "not_found")
    error(alice.complete(ticket), 404, "not_found")


def test_a_truncated_jpeg_is_422(stack: StackHandle) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3)).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()[:-3000]
    alice = Client(stack)
    ticket = alice.upload(data, "image/jpeg", "cut.jpg")
    assert "cut short" in error(alice.complete(ticket), 422, "unprocessable")["message"]


def test_real_heic_including_a_grid_is_verified_and_held_to_max_pixels(stack: StackHandle) -> None:
    alice, tiny = Client(stack), Client(stack, tenant=TINY)
    for size, tile in (((640, 480), 0), ((1024, 768), 256)):
        ticket = alice.upload(heic(size, tile_size=tile), "image/heic", "IMG_0001.HEIC")
        completed = alice.complete(ticket)
        assert completed.status_code == 200, completed.text
        assert (completed.json()["width"], completed.json()["height"]) == size

    ticket = tiny.upload(heic((1024, 768), tile_size=256), "image/heic", "big.heic")
    details = error(tiny.complete(ticket), 422, "unprocessable")["details"]
    assert details["maxPixels"] == 500_000 and details["pixels"] == 1024 * 768

    fake = struct.pack(">I", 24) + b"ftypheic" + struct.pack(">I", 0) + b"mif1heic" + b"<html>ispe</html>" * 50
    ticket = alice.upload(fake, "image/heic", "fake.heic")
    assert "dimensions" in error(alice.complete(ticket), 422, "unprocessable")["message"]


def test_phone_photos_with_bytes_after_their_eoi_or_a_long_header_complete(stack: StackHandle) -> None:
    """Issue 24: a Motion Photo (MP4 after the EOI), an MPF file (a second JPEG after it), a header
    of 400 KB of ICC profile; each downloads whole."""
    alice = Client(stack)
    photos = (
        motion_photo((1024, 768), video_bytes=2 * 1024 * 1024),
        mpf_jpeg((800, 600)),
        noisy_jpeg((800, 600), icc_profile=bytes(range(256)) * 1600),
    )
    for data in photos:
        ticket = alice.upload(data, "image/jpeg", "PXL_20261207_MP.jpg")
        completed = alice.complete(ticket)
        assert completed.status_code == 200, completed.text
        url = alice.call("GET", f"/files/{ticket['fileId']}").json()["downloadUrl"]
        assert requests.get(url, timeout=30).content == data


def test_a_cut_jpeg_whose_exif_thumbnails_eoi_is_in_its_last_bytes_is_422(stack: StackHandle) -> None:
    data = with_segments(noisy_jpeg((300, 200)), exif_with_thumbnail(jpeg((160, 120))))
    alice = Client(stack)
    ticket = alice.upload(data[:-500], "image/jpeg", "cut.jpg")
    assert "cut short" in error(alice.complete(ticket), 422, "unprocessable")["message"]


def test_a_heic_whose_clean_aperture_hides_its_coded_size_is_held_to_max_pixels(stack: StackHandle) -> None:
    data = heic((1023, 767))  # coded 1024 x 768, clap crops it; then the clap shows only 64 x 48
    at = data.index(b"clap") + 4
    data = data[:at] + struct.pack(">8I", 64, 1, 48, 1, 0, 1, 0, 1) + data[at + 32 :]
    tiny = Client(stack, tenant=TINY)
    ticket = tiny.upload(data, "image/heic", "IMG_0002.HEIC")
    details = error(tiny.complete(ticket), 422, "unprocessable")["details"]
    assert (details["width"], details["height"]) == (64, 48) and details["pixels"] >= 1024 * 768


def test_polyglots_are_refused_where_the_format_ends_and_downloaded_as_attachments(stack: StackHandle) -> None:
    alice = Client(stack)
    html = b"<html><script>alert(document.domain)</script></html>"
    for data, content_type in (
        (image_bytes("WEBP", (30, 20)) + html, "image/webp"),
        (png((30, 20)) + html, "image/png"),
    ):
        ticket = alice.upload(data, content_type, "x")
        assert "cut short" in error(alice.complete(ticket), 422, "unprocessable")["message"]
    data = jpeg() + html  # JPEG: bytes after the EOI are what phones write; served so no page renders
    ticket = alice.upload(data, "image/jpeg", "x.jpg")
    assert alice.complete(ticket).status_code == 200
    response = requests.get(alice.call("GET", f"/files/{ticket['fileId']}").json()["downloadUrl"], timeout=10)
    assert response.content == data
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Content-Disposition"].startswith("attachment; ")


def test_a_non_ascii_filename_downloads_with_an_rfc_6266_disposition(stack: StackHandle) -> None:
    alice = Client(stack)
    ticket = alice.upload(jpeg(), "image/jpeg", 'Crème 写真 "1".jpg')
    assert alice.complete(ticket).status_code == 200
    url = alice.call("GET", f"/files/{ticket['fileId']}").json()["downloadUrl"]
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == jpeg()
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Creme  _1_.jpg\"; filename*=UTF-8''Cr%C3%A8me%20%E5%86%99%E7%9C%9F%20%221%22.jpg"
    )


def test_webp_and_png_still_complete(stack: StackHandle) -> None:
    alice = Client(stack)
    for data, content_type in ((image_bytes("WEBP", (30, 20)), "image/webp"), (png((30, 20)), "image/png")):
        ticket = alice.upload(data, content_type, "x")
        assert alice.complete(ticket).status_code == 200


# --- the local stack listens on the loopback interface only -----------------------------------------


def _listening(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on port (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(address[-8:] if width == 32 else address)
    return found


def test_every_child_of_the_stack_listens_on_127_0_0_1_only(stack: StackHandle) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp on this system")
    loopback = "0100007F"  # 127.0.0.1 in /proc's byte order (also the tail of ::ffff:127.0.0.1)
    health = requests.get(f"{stack.base_url}/_local/health", timeout=5).text
    ports = {int(urlsplit(stack.base_url).port or 0), *(int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", health))}
    assert len(ports) >= 2, health  # the gateway, S3, and DynamoDB Local unless moto (on the S3 port) serves it
    for port in ports:
        assert _listening(port) == {loopback}, (port, _listening(port))
