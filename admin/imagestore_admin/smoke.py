"""A black-box run of the main flows against any stage, over HTTP only: `imagestore-admin smoke`.

Upload (presigned POST), complete, previews ready, print check, project save and load with If-Match,
share and copy, cart item, order, and the phone's page fetched from a mobile upload's QR URL. Then it
removes what it made (the mobile upload, the copy, the share, the cart item, the project and the
files), prints one row per step and exits non-zero when any step failed.

No API removes an order (it is the shop's record for fulfilment). Run with the operator's access to the
stage (`imagestore-admin --table T --bucket B smoke ...`, or `--local URL`), the clean-up removes the smoke's
order as the sweep would at its retention's end (`imagestore-admin orders remove`: its holds released, its
frozen documents deleted), finishes the removal of the project and the copy it deleted (as the sweep's next
run would: they still hold the photo until then), then deletes the photo: nothing is left. Without that
access the order and its file stay until the tenant's order_retention_seconds have passed, and the table
says so.
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

PREVIEWS_WAIT_SECONDS = 90
TIMEOUT = 30


class StepFailed(Exception):
    """A step's answer was not what the API promises."""


@dataclass
class Row:
    step: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class Smoke:
    """One run against a stage: the APIs' base URLs and a user's token."""

    file_url: str
    project_url: str
    token: str
    session: requests.Session = field(default_factory=requests.Session)
    rows: list[Row] = field(default_factory=list)
    made: dict[str, str] = field(default_factory=dict)  # what to remove: kind -> id (or URL)
    kept: list[str] = field(default_factory=list)
    # (tenant, what was made) -> what was done: the operator's removal of what the API leaves for the sweep
    # (the order, the deleted projects, the revoked mobile upload: imagestore_admin.cli.smoke_command)
    remove_order: Callable[[str, dict[str, str]], str] | None = None

    @property
    def tenant_id(self) -> str:
        """The token's tenant (its `tid` claim; the token is not verified here)."""
        payload = self.token.split(".")[1]
        return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["tid"])

    def call(
        self,
        method: str,
        url: str,
        expect: int | tuple[int, ...],
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        response = self.session.request(
            method,
            url,
            json=body,
            timeout=TIMEOUT,
            headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
        )
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise StepFailed(f"{method} {url.split('?')[0]}: {response.status_code} {response.text[:300]}")
        return response

    def file(self, method: str, path: str, expect: int | tuple[int, ...] = 200, **kw: Any) -> requests.Response:
        return self.call(method, self.file_url + path, expect, **kw)

    def project(self, method: str, path: str, expect: int | tuple[int, ...] = 200, **kw: Any) -> requests.Response:
        return self.call(method, self.project_url + path, expect, **kw)

    def step(self, name: str, run: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail, ok = run(), True
        except (StepFailed, requests.RequestException, KeyError, ValueError) as exc:
            detail, ok = str(exc), False
        self.rows.append(Row(name, ok, time.monotonic() - started, detail))
        return ok

    # ---- the flows -------------------------------------------------------------------------------

    def upload(self) -> str:
        data = photo()
        ticket = self.file(
            "POST", "/uploads", 201, body={"filename": "smoke.jpg", "contentType": "image/jpeg", "sizeBytes": len(data)}
        ).json()
        self.made["file"] = ticket["fileId"]
        target = ticket["upload"]
        posted = requests.post(
            target["url"], data=target["fields"], files={"file": ("smoke.jpg", data)}, timeout=TIMEOUT
        )
        if posted.status_code not in (200, 201, 204):
            raise StepFailed(f"presigned POST: {posted.status_code} {posted.text[:200]}")
        return f"file {ticket['fileId']}, {len(data)} bytes posted to the bucket"

    def complete(self) -> str:
        view = self.file("POST", f"/uploads/{self.made['file']}/complete").json()
        if view["status"] != "available":
            raise StepFailed(f"status {view['status']} after complete")
        return f"{view['width']} x {view['height']}, {view['status']}"

    def previews(self) -> str:
        deadline = time.monotonic() + PREVIEWS_WAIT_SECONDS
        while True:
            view = self.file("GET", f"/files/{self.made['file']}").json()
            if view.get("previewStatus") == "ready":
                thumb = requests.get(view["previews"]["thumb"]["url"], timeout=TIMEOUT)
                if thumb.status_code != 200 or not thumb.content.startswith(b"\xff\xd8"):
                    raise StepFailed(f"thumb URL: {thumb.status_code}")
                return f"ready; thumb {len(thumb.content)} bytes"
            if view.get("previewStatus") == "failed" or time.monotonic() > deadline:
                raise StepFailed(f"previewStatus {view.get('previewStatus')} after {PREVIEWS_WAIT_SECONDS} s")
            time.sleep(1)

    def print_check(self) -> str:
        check = self.file("GET", f"/files/{self.made['file']}/print-check?widthMm=100&heightMm=75").json()
        return f"{check['dpi']} dpi, {check['verdict']}"

    def project_round_trip(self) -> str:
        created = self.project(
            "POST",
            "/projects",
            201,
            body={
                "name": "smoke",
                "productType": "smoke-test",
                "document": {"pages": 1},
                "fileIds": [self.made["file"]],
            },
        )
        project_id = created.json()["projectId"]
        self.made["project"] = project_id
        loaded = self.project("GET", f"/projects/{project_id}").json()
        etag = f'"{loaded["version"]}"'  # the version the client read; If-Match names it
        if [f["fileId"] for f in loaded["files"]] != [self.made["file"]]:
            raise StepFailed(f"GET /projects/{project_id}: files {[f['fileId'] for f in loaded['files']]}")
        body = {
            "name": "smoke, saved",
            "productType": "smoke-test",
            "document": {"pages": 2},
            "fileIds": [self.made["file"]],
        }
        saved = self.project("PUT", f"/projects/{project_id}", body=body, headers={"If-Match": etag})
        stale = self.project("PUT", f"/projects/{project_id}", 412, body=body, headers={"If-Match": etag})
        again = self.project("GET", f"/projects/{project_id}").json()
        if again["document"] != {"pages": 2}:
            raise StepFailed(f"the saved document reads back as {again['document']}")
        return f"saved with If-Match {etag} -> {saved.headers.get('ETag')}; the stale If-Match got {stale.status_code}"

    def share_and_copy(self) -> str:
        share = self.project(
            "POST", f"/projects/{self.made['project']}/shares", 201, body={"mode": "copy", "expiresInDays": 1}
        ).json()
        self.made["share"] = share["shareId"]
        seen = self.project("GET", f"/shares/{share['token']}").json()
        copy = self.project("POST", f"/shares/{share['token']}/copies", 201).json()
        self.made["copy"] = copy["projectId"]
        link = share["url"].split("/shares/")[0]
        files = len(seen["project"]["files"])
        return f"share link at {link}/shares/..., {files} file(s) seen, copy {copy['projectId']}"

    def cart_and_order(self) -> str:
        item = self.project(
            "POST",
            "/cart-items",
            201,
            body={"projectId": self.made["project"], "productSku": "smoke-sku", "quantity": 1},
        ).json()
        self.made["cart-item"] = item["cartItemId"]
        order = self.project(
            "POST",
            "/orders",
            201,
            body={"cartItemIds": [item["cartItemId"]], "externalOrderRef": f"smoke-{uuid.uuid4().hex[:12]}"},
        ).json()
        self.made["order"] = order["orderId"]
        return f"cart item {item['cartItemId']}, order {order['orderId']}"

    def mobile_page(self) -> str:
        created = self.file("POST", "/mobile-uploads", 201, body={"retention": "session"}).json()
        self.made["mobile-upload"] = created["mobileUploadId"]
        page = requests.get(created["url"].split("#", 1)[0], timeout=TIMEOUT)
        if page.status_code != 200 or "text/html" not in page.headers.get("Content-Type", ""):
            raise StepFailed(f"the QR URL's page: {page.status_code} {page.headers.get('Content-Type')}")
        csp = page.headers.get("Content-Security-Policy", "")
        if "default-src 'none'" not in csp:
            raise StepFailed(f"the page has no strict Content-Security-Policy: {csp!r}")
        return f"{created['url'].split('#')[0]} 200 text/html, CSP {csp.split(';')[0]}"

    def clean_up(self) -> str:
        removed = []
        if "mobile-upload" in self.made:
            self.file("DELETE", f"/mobile-uploads/{self.made['mobile-upload']}", (200, 204))
            removed.append("mobile upload")
        if "cart-item" in self.made:
            self.project("DELETE", f"/cart-items/{self.made['cart-item']}", (200, 204))
            removed.append("cart item")
        for kind in ("copy", "project"):
            if kind in self.made:
                self.project("DELETE", f"/projects/{self.made[kind]}", (200, 204))
                removed.append(kind)
        if self.remove_order is not None:  # the operator's access: what the API leaves for the sweep goes too
            removed.append(self.remove_order(self.tenant_id, dict(self.made)))
            self.made.pop("order", None)
        elif "order" in self.made:
            self.kept.append(
                f"order {self.made['order']} and the file it holds (no API removes an order: run the smoke "
                "with --table/--bucket or --local, or `imagestore-admin orders remove`; else the sweep "
                "removes both after the tenant's order_retention_seconds)"
            )
        if "file" in self.made:
            # 409 while the order holds it (the order keeps its photo for the lab).
            deleted = self.file(
                "DELETE", f"/files/{self.made['file']}", (200, 204) if "order" not in self.made else (200, 204, 409)
            )
            if deleted.status_code != 409:
                removed.append("file")
        return "removed " + ", ".join(removed) + ("; kept " + "; ".join(self.kept) if self.kept else "")

    def run(self) -> bool:
        steps: list[tuple[str, Callable[[], str]]] = [
            ("upload (presigned POST)", self.upload),
            ("complete", self.complete),
            ("previews ready", self.previews),
            ("print check", self.print_check),
            ("project save/load, If-Match", self.project_round_trip),
            ("share and copy", self.share_and_copy),
            ("cart item and order", self.cart_and_order),
            ("mobile page from its QR URL", self.mobile_page),
        ]
        for name, run in steps:
            if not self.step(name, run) and name in ("upload (presigned POST)", "complete"):
                break  # nothing after it can run without the file
        self.step("clean up", self.clean_up)
        return all(row.ok for row in self.rows)

    def table(self) -> str:
        width = max(len(row.step) for row in self.rows)
        lines = [f"{'step':<{width}}  result  seconds  detail"]
        lines += [
            f"{row.step:<{width}}  {'ok' if row.ok else 'FAILED':<6}  {row.seconds:7.2f}  {row.detail}"
            for row in self.rows
        ]
        failed = sum(not row.ok for row in self.rows)
        lines.append(f"smoke: {len(self.rows) - failed} of {len(self.rows)} steps ok")
        return "\n".join(lines)


def photo() -> bytes:
    """A 1600 x 1200 JPEG: big enough to print 100 x 75 mm at about 400 dpi."""
    from PIL import Image

    image = Image.effect_mandelbrot((1600, 1200), (-2.0, -1.2, 1.0, 1.2), 64).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def main(
    base_url: str,
    token: str,
    *,
    project_url: str | None = None,
    remove_order: Callable[[str, dict[str, str]], str] | None = None,
) -> int:
    smoke = Smoke(base_url.rstrip("/"), (project_url or base_url).rstrip("/"), token, remove_order=remove_order)
    ok = smoke.run()
    print(smoke.table())
    return 0 if ok else 1
