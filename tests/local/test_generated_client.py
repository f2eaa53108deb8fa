"""A Python client generated from the stack's own /openapi.json by openapi-python-client (pinned in the dev
extras) drives the main flows against the local stack: upload ticket -> S3 POST -> complete -> project
create/get (ETag, 304)/put with If-Match -> share -> copy by another user -> cart item -> order -> list orders,
and a mobile upload whose QR is an image. No hand-written HTTP call but the S3 presigned POST (the document
describes the API, not S3). Generation must show no warning; the client is generated once per test session
into a temporary directory (never committed)."""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from tests.e2e.stack import StackHandle
from tests.support.images import image_bytes

pytestmark = pytest.mark.e2e

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "imagestore_client"
# The generator's post-hooks (ruff format) would only restyle the code: none, so its output is its own.
CONFIG = "post_hooks: []\n"


@pytest.fixture(scope="session")
def generated(shared_stack: StackHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package generated from the running stack's /openapi.json; its generator's output is kept
    for the warning check."""
    document = requests.get(f"{shared_stack.base_url}/openapi.json", timeout=30)
    assert document.status_code == 200, document.text
    root = tmp_path_factory.mktemp(f"client-{hashlib.sha256(document.content).hexdigest()[:12]}")
    (root / "openapi.json").write_bytes(document.content)
    (root / "config.yml").write_text(CONFIG)
    assert GENERATOR.exists(), f"{GENERATOR} is missing: `make setup` installs the dev extras"
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(root / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(root / PACKAGE),
            "--config",
            str(root / "config.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    sys.path.insert(0, str(root))
    try:
        package = importlib.import_module(PACKAGE)
        package.generator_output = output  # type: ignore[attr-defined]
        yield package
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _api(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _models() -> Any:
    return importlib.import_module(f"{PACKAGE}.models")


def test_the_generator_takes_the_document_without_a_warning(generated: ModuleType) -> None:
    output = generated.generator_output  # type: ignore[attr-defined]
    assert "Warning" not in output and "WARNING" not in output and "Unable to" not in output, output
    # Every operation of the document became a function (none was dropped).
    for module in ("uploads.request_upload", "mobile_uploads.create_mobile_upload", "orders.list_orders"):
        assert hasattr(_api(module), "sync_detailed"), module


def test_the_main_flows_through_the_generated_client(generated: ModuleType, shared_stack: StackHandle) -> None:
    m = _models()
    run = uuid.uuid4().hex[:8]
    tenant = f"client-{run}"
    ann = generated.AuthenticatedClient(
        base_url=shared_stack.base_url,
        token=shared_stack.mint_token(tenant, "ann", session="s1"),
        raise_on_unexpected_status=True,
        timeout=60,
    )
    ben = generated.AuthenticatedClient(
        base_url=shared_stack.base_url,
        token=shared_stack.mint_token(tenant, "ben", session="s2"),
        raise_on_unexpected_status=True,
        timeout=60,
    )

    # Upload: a ticket (idempotent), the bytes straight to S3, then complete.
    photo = image_bytes("JPEG", (640, 480), "teal")
    request_upload = _api("uploads.request_upload")
    body = m.UploadRequest(filename="teal.jpg", content_type="image/jpeg", size_bytes=len(photo))
    key = f"upload-{run}"
    ticket = request_upload.sync_detailed(client=ann, body=body, idempotency_key=key)
    assert ticket.status_code == 201, ticket.content
    assert isinstance(ticket.parsed, m.UploadTicket) and ticket.parsed.upload is not None
    replay = request_upload.sync_detailed(client=ann, body=body, idempotency_key=key)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.parsed.file_id == ticket.parsed.file_id
    upload = ticket.parsed.upload
    posted = requests.post(  # the one hand-written call: S3's presigned POST, which the document does not describe
        upload.url,
        data=upload.fields.additional_properties,
        files={"file": ("teal.jpg", photo, "image/jpeg")},
        timeout=60,
    )
    assert posted.status_code in (200, 201, 204), posted.text
    file_id = ticket.parsed.file_id
    done = _api("uploads.complete_upload").sync_detailed(file_id, client=ann)
    assert done.status_code == 200, done.content
    assert isinstance(done.parsed, m.FileView)
    assert done.parsed.status == m.FileStatus.AVAILABLE and (done.parsed.width, done.parsed.height) == (640, 480)
    assert done.parsed.expires_at > done.parsed.created_at  # date-times, parsed as such

    # Project: create (ETag), read (ETag, then 304), save with If-Match.
    created = _api("projects.create_project").sync_detailed(
        client=ann,
        body=m.ProjectInput(name="Summer", product_type="photobook-a4", file_ids=[file_id]),
        idempotency_key=f"project-{run}",
    )
    assert created.status_code == 201, created.content
    project = created.parsed
    assert isinstance(project, m.ProjectView) and project.version == 1 and created.headers["ETag"] == '"1"'
    get_project = _api("projects.get_project")
    read = get_project.sync_detailed(project.project_id, client=ann)
    assert read.status_code == 200 and read.parsed.files[0].file_id == file_id
    unchanged = get_project.sync_detailed(project.project_id, client=ann, if_none_match=read.headers["ETag"])
    assert unchanged.status_code == 304 and unchanged.content == b""
    document = {"pages": [{"photo": file_id}]}  # any JSON: the document is the editor's
    saved = _api("projects.update_project").sync_detailed(
        project.project_id,
        client=ann,
        body=m.ProjectInput(name="Summer", product_type="photobook-a4", document=document, file_ids=[file_id]),
        if_match=read.headers["ETag"],
    )
    assert saved.status_code == 200, saved.content
    assert saved.parsed.version == 2 and saved.headers["ETag"] == '"2"'
    stale = _api("projects.update_project").sync_detailed(
        project.project_id,
        client=ann,
        body=m.ProjectInput(name="Late", product_type="photobook-a4", file_ids=[file_id]),
        if_match='"1"',
    )
    assert stale.status_code == 412 and stale.parsed.error.code == "precondition_failed"

    # Share (copy mode), listed; another user of the tenant copies it.
    share = _api("shares.create_share").sync_detailed(
        project.project_id, client=ann, body=m.ShareInput(mode=m.ShareInputMode.COPY), idempotency_key=f"share-{run}"
    )
    assert share.status_code == 201, share.content
    shares = _api("shares.list_shares").sync_detailed(project.project_id, client=ann)
    assert shares.status_code == 200 and [s.share_id for s in shares.parsed.items] == [share.parsed.share_id]
    copy = _api("shares.copy_share").sync_detailed(share.parsed.token, client=ben, idempotency_key=f"copy-{run}")
    assert copy.status_code == 201, copy.content
    assert copy.parsed.project_id != project.project_id and copy.parsed.file_count == 1
    assert _api("projects.get_project").sync_detailed(copy.parsed.project_id, client=ann).status_code == 404

    # Cart item pinning version 2, an order, the order list.
    item = _api("cart_items.add_cart_item").sync_detailed(
        client=ann,
        body=m.CartItemInput(product_sku="photobook-a4", quantity=1, project_id=project.project_id),
        idempotency_key=f"cart-{run}",
    )
    assert item.status_code == 201, item.content
    assert item.parsed.project_version == 2
    order = _api("orders.place_order").sync_detailed(
        client=ann,
        body=m.OrderInput(cart_item_ids=[item.parsed.cart_item_id], external_order_ref=f"shop-{run}"),
        idempotency_key=f"order-{run}",
    )
    assert order.status_code == 201, order.content
    assert order.parsed.projects[0].version == 2
    orders = _api("orders.list_orders").sync_detailed(client=ann)
    assert orders.status_code == 200
    assert [o.order_id for o in orders.parsed.items] == [order.parsed.order_id]
    assert orders.parsed.items[0].external_order_ref == f"shop-{run}" and orders.parsed.next_cursor is None
    assert _api("orders.list_orders").sync_detailed(client=ben).parsed.items == []

    # A mobile upload: its QR is an image an <img> shows as it is.
    mobile = _api("mobile_uploads.create_mobile_upload").sync_detailed(
        client=ann, body=m.MobileUploadRequest(), idempotency_key=f"mobile-{run}"
    )
    assert mobile.status_code == 201, mobile.content
    assert mobile.parsed.qr.data_url.startswith("data:image/svg+xml")
    assert mobile.parsed.retention == m.Retention.SESSION

    # An error through the client: the typed body with its code and request id.
    missing = _api("files.get_file").sync_detailed("no-such-file", client=ann)
    assert missing.status_code == 404 and missing.parsed.error.code == "not_found"
    assert missing.parsed.error.request_id == missing.headers["X-Amzn-RequestId"]


def test_answers_state_the_usage_plan_and_the_local_gateway_what_is_left(
    generated: ModuleType, shared_stack: StackHandle
) -> None:
    """RateLimit-Policy (the function, from its authorizer: the caller's plan) and RateLimit (the local gateway,
    which keeps the plans' buckets), readable by browser code (CORS exposes both)."""
    import time

    from imagestore.models.tenants import TenantRecord
    from imagestore_admin.cli import local_registry

    tenant = f"plan-{uuid.uuid4().hex[:8]}"
    local_registry(shared_stack.base_url).put(
        TenantRecord(tenant_id=tenant, display_name=tenant, usage_plan="throttled"), int(time.time())
    )
    client = generated.AuthenticatedClient(
        base_url=shared_stack.base_url,
        token=shared_stack.mint_token(tenant, "cleo", session="s1"),
        raise_on_unexpected_status=True,
        headers={"Origin": "http://127.0.0.1:5173"},
    )
    list_files = _api("files.list_files")
    first = list_files.sync_detailed(client=client)
    second = list_files.sync_detailed(client=client)
    assert first.status_code == second.status_code == 200
    # deploy/usage-plans.yml's local `throttled` plan: 20 a second (burst 20), the stage's daily quota.
    assert first.headers["RateLimit-Policy"] == '"rate";q=20;w=1, "day";q=1000000000;w=86400'
    left = [
        {
            item.split(";")[0].strip('"'): int(item.split(";r=")[1].split(";")[0])
            for item in r.headers["RateLimit"].split(", ")
        }
        for r in (first, second)
    ]
    # Each request took a token of the bucket (20, refilled at 20/s: the next may have gained some back) and one
    # request of the day's quota (nothing comes back).
    assert all(0 <= counts["rate"] <= 19 for counts in left), left
    assert left[0]["day"] <= 999_999_999 and left[1]["day"] == left[0]["day"] - 1, left
    exposed = {h.strip() for h in first.headers.get("Access-Control-Expose-Headers", "").split(",")}
    assert {"RateLimit", "RateLimit-Policy", "Retry-After", "ETag", "X-Amzn-RequestId"} <= exposed
