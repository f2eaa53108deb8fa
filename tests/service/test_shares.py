"""Sharing in-process against moto: tokens, expiry, revocation, copies that outlive the original."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
import requests

from imagestore.auth import Principal
from tests.conftest import Aws
from tests.support.events import api_event, call
from tests.support.files import stored_file, stored_files
from tests.support.images import jpeg
from tests.support.scheduler import run_sweep

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s2")
OTHER_TENANT = Principal("shop-b", "bob", "s2")
DAY = 86400


def create_project(projects: Any, file_ids: list[str], principal: Principal = ALICE) -> dict[str, Any]:
    body = {"name": "Summer", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
    status, project = call(projects, api_event("POST", "/projects", principal=principal, body=body))
    assert status == 201, project
    return project


def share(
    shares: Any, project_id: str, mode: str = "copy", days: int = 7, principal: Principal = ALICE
) -> tuple[int, Any]:
    return call(
        shares,
        api_event(
            "POST",
            "/projects/{projectId}/shares",
            principal=principal,
            path_params={"projectId": project_id},
            body={"mode": mode, "expiresInDays": days},
        ),
    )


def view(shares: Any, token: str, principal: Principal = BOB) -> tuple[int, Any]:
    return call(shares, api_event("GET", "/shares/{token}", principal=principal, path_params={"token": token}))


def copy(shares: Any, token: str, principal: Principal = BOB) -> tuple[int, Any]:
    return call(shares, api_event("POST", "/shares/{token}/copies", principal=principal, path_params={"token": token}))


def revoke(shares: Any, project_id: str, share_id: str, principal: Principal = ALICE) -> tuple[int, Any]:
    return call(
        shares,
        api_event(
            "DELETE",
            "/projects/{projectId}/shares/{shareId}",
            principal=principal,
            path_params={"projectId": project_id, "shareId": share_id},
        ),
    )


def load(projects: Any, project_id: str, principal: Principal) -> tuple[int, Any]:
    return call(
        projects, api_event("GET", "/projects/{projectId}", principal=principal, path_params={"projectId": project_id})
    )


def delete_project(projects: Any, project_id: str, principal: Principal = ALICE) -> int:
    event = api_event("DELETE", "/projects/{projectId}", principal=principal, path_params={"projectId": project_id})
    return call(projects, event)[0]


def hold_count(aws: Aws, file_id: str, user: str = "alice") -> int | None:
    item = aws.item(f"T#shop-a#U#{user}", f"FILE#{file_id}")
    return None if item is None else int(item["holdCount"])


def test_a_share_is_stored_only_as_the_hash_of_its_token(aws: Aws, projects: Any, shares: Any) -> None:
    project = create_project(projects, [stored_file(ALICE).file_id])

    status, created = share(shares, project["projectId"], "view", days=3)

    assert status == 201, created
    assert created["mode"] == "view" and created["url"].endswith(f"/shares/{created['token']}")
    assert len(created["token"]) >= 43  # 256 bits, URL-safe base64
    token_hash = hashlib.sha256(created["token"].encode()).hexdigest()
    token_item = aws.item(f"T#shop-a#SHARE#{token_hash}", "META")
    assert token_item is not None and token_item["entity"] == "share"
    assert created["token"] not in str(token_item)
    assert int(token_item["expiresAt"]) == pytest.approx(time.time() + 3 * DAY, abs=60)
    assert token_item["xpk"].startswith("EXP#") and "ttl" in token_item
    share_sk = f"SHARE#{created['shareId']}"
    assert token_item["companionKeys"] == [{"pk": f"T#shop-a#P#{project['projectId']}", "sk": share_sk}]
    project_item = aws.item(f"T#shop-a#P#{project['projectId']}", share_sk)
    assert project_item is not None
    assert project_item["companionKeys"] == [{"pk": f"T#shop-a#SHARE#{token_hash}", "sk": "META"}]


def test_a_recipient_sees_the_project_with_download_urls(projects: Any, shares: Any) -> None:
    data = jpeg((30, 20))
    f1 = stored_file(ALICE, data)
    project = create_project(projects, [f1.file_id])
    _, created = share(shares, project["projectId"], "view")

    status, shown = view(shares, created["token"])

    assert status == 200, shown
    assert shown["shareId"] == created["shareId"] and shown["mode"] == "view"
    assert shown["project"]["document"] == {"pages": [f1.file_id]}
    assert [f["fileId"] for f in shown["project"]["files"]] == [f1.file_id]
    assert requests.get(shown["project"]["files"][0]["downloadUrl"], timeout=10).content == data


def test_a_view_share_cannot_be_copied(projects: Any, shares: Any) -> None:
    project = create_project(projects, [stored_file(ALICE).file_id])
    _, created = share(shares, project["projectId"], "view")

    status, body = copy(shares, created["token"])

    assert status == 403 and body["error"]["code"] == "forbidden"
    _, listing = call(projects, api_event("GET", "/projects", principal=BOB))
    assert listing["items"] == []


def test_unknown_revoked_expired_and_foreign_tokens_are_404(
    monkeypatch: pytest.MonkeyPatch, projects: Any, shares: Any
) -> None:
    project = create_project(projects, [stored_file(ALICE).file_id])
    pid = project["projectId"]
    _, kept = share(shares, pid, "copy", days=2)
    _, revoked = share(shares, pid, "copy")

    assert view(shares, "not-a-token")[0] == 404
    assert view(shares, "x" * 500)[0] == 404
    assert view(shares, kept["token"], OTHER_TENANT)[0] == 404
    assert copy(shares, kept["token"], OTHER_TENANT)[0] == 404
    assert revoke(shares, pid, revoked["shareId"], BOB)[0] == 404
    assert revoke(shares, pid, revoked["shareId"])[0] == 204
    assert revoke(shares, pid, revoked["shareId"])[0] == 404
    assert view(shares, revoked["token"])[0] == 404
    assert copy(shares, revoked["token"])[0] == 404
    assert view(shares, kept["token"])[0] == 200

    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(2 * DAY + 60))
    assert view(shares, kept["token"])[0] == 404
    assert copy(shares, kept["token"])[0] == 404


def test_expiry_is_capped_by_the_tenant_and_input_is_checked(projects: Any, shares: Any) -> None:
    project = create_project(projects, [])
    status, created = share(shares, project["projectId"], "view", days=10_000)
    assert status == 201
    expires = time.mktime(time.strptime(created["expiresAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert expires == pytest.approx(time.time() + 90 * DAY, abs=120)
    assert share(shares, project["projectId"], "edit")[0] == 400
    assert share(shares, project["projectId"], "view", days=0)[0] == 400


def test_only_the_owner_shares_a_live_project(aws: Aws, projects: Any, shares: Any) -> None:
    project = create_project(projects, [])
    pid = project["projectId"]
    assert share(shares, pid, principal=BOB)[0] == 404
    assert share(shares, pid, principal=OTHER_TENANT)[0] == 404
    assert share(shares, "01hzzzzzzzzzzzzzzzzzzzzzzz")[0] == 404
    assert share(shares, "bad#id")[0] == 404
    assert delete_project(projects, pid) == 204
    assert share(shares, pid)[0] == 404
    run_sweep()
    assert (
        aws.dynamodb.query(
            TableName="imagestore-test",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"T#shop-a#P#{pid}"}},
        )["Count"]
        == 0
    )


def test_a_copy_belongs_to_the_caller_and_outlives_the_original(
    aws: Aws, projects: Any, shares: Any, files: Any
) -> None:
    data = jpeg((40, 30))
    f1, f2 = stored_file(ALICE, data), stored_file(ALICE)
    project = create_project(projects, [f1.file_id, f2.file_id])
    _, created = share(shares, project["projectId"], "copy")

    status, copied = copy(shares, created["token"])

    assert status == 201, copied
    cid = copied["projectId"]
    assert cid != project["projectId"] and copied["version"] == 1
    assert copied["document"] == {"pages": [f1.file_id, f2.file_id]}
    pid = project["projectId"]
    assert aws.item(f"T#shop-a#P#{cid}", "META")["userId"] == "bob"
    # The copy pins the original's version instead of holding each file again.
    assert aws.item(f"T#shop-a#P#{pid}", f"PIN#T#shop-a#P#{cid}")["entity"] == "pin"
    assert aws.item(f"T#shop-a#P#{pid}", "META")["pinCount"] == 1
    assert hold_count(aws, f1.file_id) == 1
    assert load(projects, cid, ALICE)[0] == 404
    assert load(projects, cid, OTHER_TENANT)[0] == 404

    assert delete_project(projects, pid) == 204
    run_sweep()  # the original is gone for readers, but kept (and its holds) while the copy pins it
    assert aws.item(f"T#shop-a#P#{pid}", "META")["status"] == "deleting"
    delete_file = api_event("DELETE", "/files/{fileId}", principal=ALICE, path_params={"fileId": f1.file_id})
    status, body = call(files, delete_file)
    assert status == 409 and body["error"]["details"] == {"holdCount": 1}
    assert view(shares, created["token"])[0] == 404  # the share went with the original

    status, loaded = load(projects, cid, BOB)
    assert status == 200
    assert [f["fileId"] for f in loaded["files"]] == [f1.file_id, f2.file_id]
    assert requests.get(loaded["files"][0]["downloadUrl"], timeout=10).content == data


def _delete_original_right_after_the_share_resolves(monkeypatch: pytest.MonkeyPatch, projects: Any) -> None:
    """The interleaving of a copy and a deletion, made deterministic (moto is not thread-safe under
    concurrent transactions): the original goes between the copy reading the share and pinning it."""
    from project_service.logic import shares as share_logic

    resolve = share_logic.resolve_share

    def resolve_then_delete(*args: Any, **kwargs: Any) -> Any:
        found = resolve(*args, **kwargs)
        assert delete_project(projects, found[1].project_id) == 204
        return found

    monkeypatch.setattr(share_logic, "resolve_share", resolve_then_delete)


def test_a_copy_racing_the_deletion_of_the_original_is_refused_whole(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, projects: Any, shares: Any
) -> None:
    f1, f2 = stored_file(ALICE, retention_seconds=3600), stored_file(ALICE, retention_seconds=30 * DAY)
    project = create_project(projects, [f1.file_id, f2.file_id])
    _, created = share(shares, project["projectId"], "copy")
    _delete_original_right_after_the_share_resolves(monkeypatch, projects)

    status, body = copy(shares, created["token"])

    # The pin found the original deleted (nothing of the copy is written); looking again, the share is gone.
    assert status == 404, body
    assert call(projects, api_event("GET", "/projects", principal=BOB))[1]["items"] == []
    assert aws.item(f"T#shop-a#P#{project['projectId']}", "META")["pinCount"] == 0
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", "7200")  # f1's own retention is over
    run_sweep()
    assert hold_count(aws, f2.file_id) == 0
    assert aws.item("T#shop-a#U#alice", f"FILE#{f1.file_id}") is None  # unheld and expired: gone
    assert aws.item("T#shop-a#U#alice", f"FILE#{f2.file_id}") is not None  # its own retention runs on


def test_a_copy_made_just_before_the_original_is_deleted_keeps_every_file(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, projects: Any, shares: Any
) -> None:
    data = jpeg((20, 10))
    f1 = stored_file(ALICE, data, retention_seconds=3600)
    project = create_project(projects, [f1.file_id])
    _, created = share(shares, project["projectId"], "copy")

    status, copied = copy(shares, created["token"])
    assert status == 201, copied
    assert delete_project(projects, project["projectId"]) == 204
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", "7200")  # f1 kept only through the copy's pin
    run_sweep()
    run_sweep()

    assert hold_count(aws, f1.file_id) == 1
    status, loaded = load(projects, copied["projectId"], BOB)
    assert [f["fileId"] for f in loaded["files"]] == [f1.file_id]
    assert requests.get(loaded["files"][0]["downloadUrl"], timeout=10).content == data

    assert delete_project(projects, copied["projectId"], BOB) == 204
    run_sweep()  # the copy goes and unpins the original, which is then due at once
    run_sweep()  # the original goes and releases f1, due at once
    run_sweep()  # f1, unheld and past its retention, goes
    assert aws.item("T#shop-a#U#alice", f"FILE#{f1.file_id}") is None
    assert aws.item(f"T#shop-a#P#{project['projectId']}", "META") is None


def test_share_view_and_copy_cost_a_bounded_number_of_requests(aws: Aws, projects: Any, shares: Any) -> None:
    file_ids = [f.file_id for f in stored_files(ALICE, 60)]  # moto's transactions are slow: 60 is enough
    project = create_project(projects, file_ids)
    _, created = share(shares, project["projectId"], "copy")

    aws.requests.reset()
    assert view(shares, created["token"])[0] == 200
    assert dict(aws.requests.calls) == {"dynamodb.GetItem": 2, "s3.GetObject": 1}

    aws.requests.reset()
    status, copied = copy(shares, created["token"])
    assert status == 201 and len(copied["files"]) == 60
    # A pin on the original's version: nothing grows with the number of files.
    assert dict(aws.requests.calls) == {
        "dynamodb.GetItem": 2,
        "s3.GetObject": 1,
        "s3.PutObject": 1,
        "dynamodb.TransactWriteItems": 1,
    }


def test_a_copy_can_drop_and_put_back_the_originals_files_and_add_its_owners_own(
    aws: Aws, projects: Any, shares: Any
) -> None:
    f1, f2 = stored_file(ALICE), stored_file(ALICE)
    mine = stored_file(BOB)
    project = create_project(projects, [f1.file_id, f2.file_id])
    _, created = share(shares, project["projectId"], "copy")
    _, copied = copy(shares, created["token"])
    cid = copied["projectId"]

    def save_copy(file_ids: list[str], version: int) -> tuple[int, Any]:
        return call(
            projects,
            api_event(
                "PUT",
                "/projects/{projectId}",
                principal=BOB,
                path_params={"projectId": cid},
                headers={"If-Match": str(version)},
                body={"name": "Mine", "productType": "photobook", "fileIds": file_ids},
            ),
        )

    assert save_copy([f2.file_id, mine.file_id], 1)[0] == 200  # drops f1, adds bob's own
    assert hold_count(aws, mine.file_id, "bob") == 1  # held by the copy itself
    status, saved = save_copy([f1.file_id, f2.file_id, mine.file_id], 2)  # puts f1 back
    assert status == 200, saved
    assert [f["fileId"] for f in saved["files"]] == [f1.file_id, f2.file_id, mine.file_id]
    assert hold_count(aws, f1.file_id) == 1  # the original's hold, kept by the copy's pin
    assert (
        call(projects, api_event("DELETE", "/projects/{projectId}", principal=BOB, path_params={"projectId": cid}))[0]
        == 204
    )
    run_sweep()
    assert hold_count(aws, mine.file_id, "bob") == 0
    assert aws.item(f"T#shop-a#P#{project['projectId']}", "META")["pinCount"] == 0
