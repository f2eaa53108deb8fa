"""Issue 31's "done when" over HTTP against the local stack: an owner invites two editors and a commenter;
the editors upload and add their own photos; concurrent saves resolve by 412 and a merge-and-retry with
nothing lost; a removed editor is refused; the commenter comments and cannot save; an editor logs out;
after the clock passes every retention and the sweep runs, every image of the current version downloads
and every image dropped from it is gone (and the whole-table audit finds nothing)."""

from __future__ import annotations

import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.stack import StackHandle, running_stack
from tests.support.holds_audit import audit

pytestmark = pytest.mark.e2e
TENANT = "t1"


def _png(color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (12, 9), color).save(buffer, "PNG")
    return buffer.getvalue()


class Member:
    """One user of the stack, with a session of their own (what a logout names)."""

    def __init__(self, stack: StackHandle, user: str, tenant: str = TENANT) -> None:
        self.stack, self.user, self.session = stack, user, f"{user}-s1"
        token = stack.mint_token(tenant, user, session=self.session, ttl=7200)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.uploaded: dict[str, bytes] = {}

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return requests.request(
            method, f"{self.stack.base_url}{path}", json=body, timeout=60, headers={**self.headers, **(headers or {})}
        )

    def upload(self, data: bytes) -> str:
        created = self.call(
            "POST", "/uploads", {"filename": "p.png", "contentType": "image/png", "sizeBytes": len(data)}
        )
        assert created.status_code == 201, created.text
        upload = created.json()["upload"]
        posted = requests.post(
            upload["url"], data=upload["fields"], files={"file": ("p.png", data, "image/png")}, timeout=60
        )
        assert posted.status_code in (200, 201, 204), posted.text
        file_id = str(created.json()["fileId"])
        assert self.call("POST", f"/uploads/{file_id}/complete").status_code == 200
        self.uploaded[file_id] = data
        return file_id

    def save(self, project_id: str, file_ids: list[str], etag: str) -> Any:
        body = {"name": "Wedding", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
        return self.call("PUT", f"/projects/{project_id}", body, {"If-Match": etag})

    def add_photos(self, project_id: str, etag: str, mine: list[str]) -> Any:
        """Save with mine added to the version etag names; on 412 merge with the current version the
        answer carries and retry with its ETag (on 409, load again)."""
        current = self.call("GET", f"/projects/{project_id}").json()
        wanted = [f["fileId"] for f in current["files"]]
        for _ in range(10):
            answer = self.save(project_id, [*wanted, *[f for f in mine if f not in wanted]], etag)
            if answer.status_code == 200:
                return answer
            if answer.status_code == 412:
                latest = answer.json()["error"]["details"]["current"]
                wanted, etag = [f["fileId"] for f in latest["files"]], answer.headers["ETag"]
                continue
            assert answer.status_code == 409, answer.text
            time.sleep(0.2)
            loaded = self.call("GET", f"/projects/{project_id}")
            wanted, etag = [f["fileId"] for f in loaded.json()["files"]], loaded.headers["ETag"]
        raise AssertionError("no save in 10 attempts")

    def logout(self) -> None:
        detail = {"tenantId": TENANT, "userId": self.user, "sessionId": self.session}
        answer = requests.post(
            f"{self.stack.base_url}/_local/events",
            timeout=60,
            json={"Entries": [{"Source": "shop", "DetailType": "UserLoggedOut", "Detail": json.dumps(detail)}]},
        )
        assert answer.status_code == 200, answer.text


def test_a_family_edits_one_photo_book_over_http(tmp_path: Path) -> None:
    with running_stack(tmp_path / "data") as stack:
        base = stack.base_url
        alice, anna, ben, carl = (Member(stack, name) for name in ("alice", "anna", "ben", "carl"))
        stranger = Member(stack, "anna", tenant="t2")
        cover = alice.upload(_png((250, 250, 250)))
        created = alice.call(
            "POST",
            "/projects",
            {"name": "Wedding", "productType": "photobook", "document": {"pages": [cover]}, "fileIds": [cover]},
        )
        assert created.status_code == 201, created.text
        pid = created.json()["projectId"]

        # Invites: two editors, one commenter; another tenant's user cannot use a link.
        links = {}
        for who, role in ((anna, "editor"), (ben, "editor"), (carl, "commenter")):
            made = alice.call("POST", f"/projects/{pid}/invites", {"role": role})
            assert made.status_code == 201, made.text
            links[who.user] = made.json()["token"]
        assert stranger.call("POST", f"/invites/{links['anna']}/accept").status_code == 404
        for who in (anna, ben, carl):
            joined = who.call("POST", f"/invites/{links[who.user]}/accept")
            assert joined.status_code == 201, joined.text
        listed = anna.call("GET", "/projects").json()["items"]
        assert [(p["projectId"], p["role"]) for p in listed] == [(pid, "editor")]

        # The editors upload and add their own photos, at once on the same version.
        anna_photos = [anna.upload(_png((200, 0, n))) for n in range(2)]
        ben_photos = [ben.upload(_png((0, 200, n))) for n in range(2)]
        etag = alice.call("GET", f"/projects/{pid}").headers["ETag"]
        with ThreadPoolExecutor(2) as pool:
            saves = list(
                pool.map(lambda job: job[0].add_photos(pid, etag, job[1]), [(anna, anna_photos), (ben, ben_photos)])
            )
        assert all(s.status_code == 200 for s in saves)
        final = alice.call("GET", f"/projects/{pid}").json()
        assert sorted(f["fileId"] for f in final["files"]) == sorted([cover, *anna_photos, *ben_photos])  # none lost
        assert {f["fileId"]: f["addedBy"] for f in final["files"]}[ben_photos[0]] == "ben"
        stale = alice.save(pid, [cover], etag)
        assert stale.status_code == 412 and stale.headers["ETag"] == f'"{final["version"]}"'
        # A poll of an unchanged version: 304.
        polled = carl.call("GET", f"/projects/{pid}", headers={"If-None-Match": f'"{final["version"]}"'})
        assert polled.status_code == 304

        # The commenter comments and cannot save.
        said = carl.call("POST", f"/projects/{pid}/comments", {"text": "Page 2 is lovely", "anchor": "page-2"})
        assert said.status_code == 201, said.text
        assert carl.save(pid, [cover], f'"{final["version"]}"').status_code == 403

        # Ben is removed: his token is refused on the project; his photos stay while the book uses them.
        assert alice.call("DELETE", f"/projects/{pid}/members/ben").status_code == 204
        assert ben.call("GET", f"/projects/{pid}").status_code == 404
        assert ben.save(pid, [cover], f'"{final["version"]}"').status_code == 404
        assert ben.call("DELETE", f"/files/{ben_photos[0]}").status_code == 409  # held by the project

        # Alice drops one of Anna's photos; Anna logs out.
        kept = [f for f in (cover, *anna_photos, *ben_photos) if f != anna_photos[1]]
        dropped = alice.save(pid, kept, f'"{final["version"]}"')
        assert dropped.status_code == 200, dropped.text
        anna.logout()

        # Past every retention, the sweep: what the book uses downloads, what it dropped is gone.
        requests.post(f"{base}/_local/clock", json={"advanceSeconds": 7 * 86400}, timeout=10)
        for _ in range(5):
            report = requests.post(f"{base}/_local/functions/scheduler/sweep/invoke", json={}, timeout=300).json()
            if not (report.get("files_removed") or report.get("holders_removed") or report.get("items_removed")):
                break
        book = alice.call("GET", f"/projects/{pid}").json()
        assert sorted(f["fileId"] for f in book["files"]) == sorted(kept)
        photos = {**alice.uploaded, **anna.uploaded, **ben.uploaded}
        for file in book["files"]:
            got = requests.get(file["downloadUrl"], timeout=30)
            assert got.status_code == 200 and got.content == photos[file["fileId"]], file["fileId"]
        assert anna.call("GET", f"/files/{anna_photos[1]}").status_code == 404
        health = requests.get(f"{base}/_local/health", timeout=10).json()
        credentials = {"region_name": health["region"], "aws_access_key_id": "test", "aws_secret_access_key": "test"}
        dynamodb = boto3.client("dynamodb", endpoint_url=health["endpoints"]["dynamodb"], **credentials)
        s3 = boto3.client("s3", endpoint_url=health["endpoints"]["s3"], **credentials)
        (table,), (bucket,) = health["tables"], health["buckets"]
        assert s3.list_objects_v2(Bucket=bucket, Prefix=f"{TENANT}/anna/{anna_photos[1]}").get("KeyCount", 0) == 0
        now = int(requests.get(f"{base}/_local/clock", timeout=10).json()["nowEpoch"])
        assert audit(dynamodb, s3, table, bucket, now) == []

        # What changed: saves, joins, the removal and the comment.
        activity = alice.call("GET", f"/projects/{pid}/activity", headers=None).json()["items"]
        kinds = [(a["kind"], a["userId"]) for a in activity]
        assert kinds.count(("joined", "anna")) == 1 and ("commented", "carl") in kinds and ("removed", "alice") in kinds
        assert sum(1 for a in activity if a["kind"] == "saved" and a["filesAdded"]) >= 2
