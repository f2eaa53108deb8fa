"""Collaborative projects in-process against moto: invites, members and roles, saving together with
If-Match, photos of several people held by one project, comments, activity (docs/collaboration.md)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from imagestore.auth import Principal
from imagestore.data import factory
from imagestore.models.collaboration import MAX_COMMENT_BYTES
from tests.conftest import BUCKET, TABLE, Aws
from tests.support.events import LambdaContext, api_event, call
from tests.support.files import stored_file
from tests.support.holds_audit import audit
from tests.support.scheduler import run_sweep

ALICE = Principal("shop-a", "alice", "s1")  # the owner
ANNA = Principal("shop-a", "anna", "s2")  # an editor
BEN = Principal("shop-a", "ben", "s3")  # an editor
CARL = Principal("shop-a", "carl", "s4")  # a commenter
VERA = Principal("shop-a", "vera", "s5")  # a viewer
EVE = Principal("shop-a", "eve", "s6")  # nobody's member
OTHER_TENANT = Principal("shop-b", "anna", "s2")
DAY = 86400


@pytest.fixture
def members(aws: Aws) -> Any:
    from project_service.handlers.members import handler

    return handler


@pytest.fixture
def comments(aws: Aws) -> Any:
    from project_service.handlers.comments import handler

    return handler


def create(projects: Any, file_ids: list[str], principal: Principal = ALICE) -> dict[str, Any]:
    body = {"name": "Wedding", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
    status, created = call(projects, api_event("POST", "/projects", principal=principal, body=body))
    assert status == 201, created
    return created


def load(projects: Any, pid: str, principal: Principal = ALICE, headers: dict[str, str] | None = None) -> Any:
    response = projects(
        api_event("GET", "/projects/{projectId}", principal=principal, path_params={"projectId": pid}, headers=headers),
        LambdaContext(),
    )
    return response


def save(projects: Any, pid: str, file_ids: list[str], version: int | str, principal: Principal) -> tuple[int, Any]:
    body = {"name": "Wedding", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
    event = api_event(
        "PUT",
        "/projects/{projectId}",
        principal=principal,
        body=body,
        path_params={"projectId": pid},
        headers={"If-Match": f'"{version}"'},
    )
    return call(projects, event)


def invite(members: Any, pid: str, role: str, principal: Principal = ALICE) -> tuple[int, Any]:
    return call(
        members,
        api_event(
            "POST",
            "/projects/{projectId}/invites",
            principal=principal,
            body={"role": role},
            path_params={"projectId": pid},
        ),
    )


def accept(members: Any, token: str, principal: Principal) -> tuple[int, Any]:
    return call(
        members, api_event("POST", "/invites/{token}/accept", principal=principal, path_params={"token": token})
    )


def join(members: Any, pid: str, role: str, principal: Principal) -> None:
    status, created = invite(members, pid, role)
    assert status == 201, created
    status, joined = accept(members, created["token"], principal)
    assert status == 201, joined


def remove(members: Any, pid: str, user: str, principal: Principal = ALICE) -> int:
    event = api_event(
        "DELETE",
        "/projects/{projectId}/members/{userId}",
        principal=principal,
        path_params={"projectId": pid, "userId": user},
    )
    return call(members, event)[0]


def comment(comments: Any, pid: str, principal: Principal, body: dict[str, Any]) -> tuple[int, Any]:
    return call(
        comments,
        api_event(
            "POST", "/projects/{projectId}/comments", principal=principal, body=body, path_params={"projectId": pid}
        ),
    )


def listing(handler: Any, resource: str, pid: str, principal: Principal, query: dict[str, str] | None = None) -> Any:
    return call(handler, api_event("GET", resource, principal=principal, path_params={"projectId": pid}, query=query))


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    flat = {k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}
    flat.update(response.get("headers") or {})
    return flat


# --- members and roles -----------------------------------------------------------------------


def test_invite_accept_list_change_role_remove_and_leave(aws: Aws, projects: Any, members: Any) -> None:
    pid = create(projects, [])["projectId"]
    status, created = invite(members, pid, "editor")
    assert status == 201 and created["role"] == "editor" and created["url"].endswith(created["token"])
    stored = aws.dynamodb.scan(TableName=TABLE)["Items"]
    assert not any(created["token"] in str(item) for item in stored)  # only its hash is at rest

    assert accept(members, created["token"], OTHER_TENANT)[0] == 404  # another tenant: the token names nothing
    assert accept(members, created["token"], ALICE)[0] == 409  # the owner
    status, joined = accept(members, created["token"], ANNA)
    assert status == 201 and joined["role"] == "editor" and joined["projectId"] == pid
    assert accept(members, created["token"], BEN)[0] == 404  # used up
    join(members, pid, "commenter", CARL)
    join(members, pid, "viewer", VERA)

    status, page = listing(members, "/projects/{projectId}/members", pid, CARL)
    assert status == 200 and page["ownerId"] == "alice"
    assert {(m["userId"], m["role"]) for m in page["items"]} == {
        ("anna", "editor"),
        ("carl", "commenter"),
        ("vera", "viewer"),
    }
    assert listing(members, "/projects/{projectId}/members", pid, EVE)[0] == 404

    # GET /projects of a member lists the project, marked with their role.
    status, mine = call(projects, api_event("GET", "/projects", principal=ANNA))
    assert status == 200 and [(p["projectId"], p["role"], p["ownerId"]) for p in mine["items"]] == [
        (pid, "editor", "alice")
    ]
    assert call(projects, api_event("GET", "/projects", principal=ALICE))[1]["items"][0]["role"] == "owner"

    change = api_event(
        "PUT",
        "/projects/{projectId}/members/{userId}",
        principal=ALICE,
        body={"role": "viewer"},
        path_params={"projectId": pid, "userId": "carl"},
    )
    assert call(members, change)[0] == 200
    assert aws.item(f"T#shop-a#P#{pid}", "META")["M#carl"] == "viewer"
    assert aws.item(f"T#shop-a#P#{pid}", "MEMBER#carl")["role"] == "viewer"
    change["requestContext"]["authorizer"] = {"principalId": "x", **ANNA.to_context()}
    assert call(members, change)[0] == 403  # only the owner changes roles

    assert remove(members, pid, "vera", ANNA) == 403  # an editor removes nobody else
    assert remove(members, pid, "vera", VERA) == 204  # leaves
    assert remove(members, pid, "carl") == 204  # removed by the owner
    assert remove(members, pid, "carl") == 404
    assert remove(members, pid, "alice") == 409  # the owner cannot leave
    assert load(projects, pid, CARL)["statusCode"] == 404  # refused at once
    assert call(projects, api_event("GET", "/projects", principal=CARL))[1]["items"] == []
    meta = aws.item(f"T#shop-a#P#{pid}", "META")
    assert meta["memberCount"] == 1 and "M#carl" not in meta and "M#vera" not in meta


def test_invites_are_revocable_expire_and_only_the_owner_makes_them(
    aws: Aws, projects: Any, members: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = create(projects, [])["projectId"]
    join(members, pid, "editor", ANNA)
    assert invite(members, pid, "editor", ANNA)[0] == 404  # not their project to invite to
    assert invite(members, pid, "owner")[0] == 400
    _, first = invite(members, pid, "viewer")
    status, page = listing(members, "/projects/{projectId}/invites", pid, ALICE)
    assert status == 200 and [i["inviteId"] for i in page["items"]] == [first["inviteId"]]
    revoke = api_event(
        "DELETE",
        "/projects/{projectId}/invites/{inviteId}",
        principal=ALICE,
        path_params={"projectId": pid, "inviteId": first["inviteId"]},
    )
    assert call(members, revoke)[0] == 204
    assert accept(members, first["token"], BEN)[0] == 404
    _, second = invite(members, pid, "viewer")
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(8 * DAY))
    assert accept(members, second["token"], BEN)[0] == 404  # expired (7 days by default)
    assert accept(members, "x" * 500, BEN)[0] == 404


def test_a_project_has_at_most_50_members(aws: Aws, projects: Any, members: Any) -> None:
    pid = create(projects, [])["projectId"]
    factory.table().update(
        {"pk": f"T#shop-a#P#{pid}", "sk": "META"}, "SET memberCount = :n", values={":n": 50}, return_new=False
    )
    _, created = invite(members, pid, "viewer")
    status, body = accept(members, created["token"], BEN)
    assert status == 409 and body["error"]["details"] == {"maxMembers": 50}
    assert aws.item(f"T#shop-a#P#{pid}", "MEMBER#ben") is None


# --- editing together ------------------------------------------------------------------------


def test_editors_save_with_if_match_and_a_conflict_is_412_with_the_current_version(
    aws: Aws, projects: Any, members: Any
) -> None:
    pid = create(projects, [])["projectId"]
    join(members, pid, "editor", ANNA)
    join(members, pid, "commenter", CARL)
    join(members, pid, "viewer", VERA)

    status, saved = save(projects, pid, [], 1, ANNA)
    assert status == 200 and saved["version"] == 2 and saved["role"] == "editor"
    status, refused = save(projects, pid, [], 1, ALICE)
    assert status == 412
    assert refused["error"]["details"]["currentVersion"] == 2
    assert refused["error"]["details"]["current"]["version"] == 2
    response = projects(
        api_event(
            "PUT",
            "/projects/{projectId}",
            principal=ALICE,
            body={"name": "W", "productType": "photobook"},
            path_params={"projectId": pid},
            headers={"If-Match": '"1"'},
        ),
        LambdaContext(),
    )
    assert response["statusCode"] == 412 and headers_of(response)["ETag"] == '"2"'
    assert save(projects, pid, [], 2, ALICE)[0] == 200
    assert save(projects, pid, [], 3, CARL)[0] == 403
    assert save(projects, pid, [], 3, VERA)[0] == 403
    assert save(projects, pid, [], 3, EVE)[0] == 404
    assert save(projects, pid, [], 3, OTHER_TENANT)[0] == 404

    # A member polls with If-None-Match: 304 with one GetItem.
    aws.requests.reset()
    polled = load(projects, pid, VERA, headers={"If-None-Match": '"3"'})
    assert polled["statusCode"] == 304 and dict(aws.requests.calls) == {"dynamodb.GetItem": 1}

    assert remove(members, pid, "anna") == 204
    assert save(projects, pid, [], 3, ANNA)[0] == 404  # a removed member's token is refused
    assert load(projects, pid, ANNA)["statusCode"] == 404


# --- photos from several people --------------------------------------------------------------


def test_the_project_holds_an_editors_files_through_removal_deletion_and_expiry(
    aws: Aws, projects: Any, members: Any, files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = stored_file(ALICE)
    pid = create(projects, [mine.file_id])["projectId"]
    join(members, pid, "editor", ANNA)
    hers, dropped = stored_file(ANNA, retention_seconds=3600), stored_file(ANNA, retention_seconds=3600)
    assert save(projects, pid, [mine.file_id, hers.file_id, dropped.file_id], 1, ANNA)[0] == 200
    status, loaded = call(
        projects, api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid})
    )
    assert status == 200
    assert [(f["fileId"], f["addedBy"]) for f in loaded["files"]] == [
        (mine.file_id, "alice"),
        (hers.file_id, "anna"),
        (dropped.file_id, "anna"),
    ]
    assert aws.item("T#shop-a#U#anna", f"FILE#{hers.file_id}")[f"H#{pid}"] > 0
    # The owner drops one of Anna's files: released in Anna's partition.
    assert save(projects, pid, [mine.file_id, hers.file_id], 2, ALICE)[0] == 200
    assert aws.item("T#shop-a#U#anna", f"FILE#{dropped.file_id}")["holdCount"] == 0

    delete = api_event("DELETE", "/files/{fileId}", principal=ANNA, path_params={"fileId": hers.file_id})
    assert call(files, delete)[0] == 409  # held by the project
    assert remove(members, pid, "anna") == 204
    from scheduler_service.logic.context import expiry_store
    from scheduler_service.logic.logout import end_session

    logout = end_session(expiry_store(), "shop-a", "anna", "s2", int(time.time()))  # Anna logs out
    assert logout.files_kept >= 1 and aws.object_exists(hers.object_key)
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(2 * DAY))
    run_sweep()
    now = int(time.time()) + 2 * DAY
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, now) == []
    assert aws.object_exists(hers.object_key)  # Anna's upload expired, the project keeps it
    assert aws.item("T#shop-a#U#anna", f"FILE#{dropped.file_id}") is None  # dropped and expired: gone
    assert not aws.object_exists(dropped.object_key)
    status, loaded = call(
        projects, api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid})
    )
    assert status == 200 and [f["fileId"] for f in loaded["files"]] == [mine.file_id, hers.file_id]


def test_an_editor_adds_only_their_own_files(aws: Aws, projects: Any, members: Any) -> None:
    pid = create(projects, [])["projectId"]
    join(members, pid, "editor", ANNA)
    bens = stored_file(BEN)
    status, body = save(projects, pid, [bens.file_id], 1, ANNA)
    assert status == 422 and body["error"]["details"]["unavailableFileIds"] == [bens.file_id]


# --- comments and activity -------------------------------------------------------------------


def test_comments_roles_limits_pagination_and_resolution(aws: Aws, projects: Any, members: Any, comments: Any) -> None:
    pid = create(projects, [])["projectId"]
    join(members, pid, "editor", ANNA)
    join(members, pid, "commenter", CARL)
    join(members, pid, "viewer", VERA)

    status, first = comment(comments, pid, CARL, {"text": "Lovely cover", "anchor": "page-1"})
    assert status == 201 and first["authorId"] == "carl" and first["anchor"] == "page-1"
    for n in range(3):
        assert comment(comments, pid, ANNA, {"text": f"note {n}"})[0] == 201
    assert comment(comments, pid, VERA, {"text": "hi"})[0] == 403
    assert comment(comments, pid, EVE, {"text": "hi"})[0] == 404
    assert comment(comments, pid, CARL, {"text": "x" * (MAX_COMMENT_BYTES + 1)})[0] == 413
    assert comment(comments, pid, CARL, {"text": "é" * (MAX_COMMENT_BYTES // 2)})[0] == 201  # 4,096 bytes
    assert comment(comments, pid, CARL, {"text": "bell\x07"})[0] == 400
    assert comment(comments, pid, CARL, {"text": "   "})[0] == 400
    assert comment(comments, pid, CARL, {"text": "a", "anchor": "<script>"})[0] == 400

    status, page = listing(comments, "/projects/{projectId}/comments", pid, VERA, {"limit": "2"})
    assert status == 200 and [c["authorId"] for c in page["items"]] == ["carl", "anna"]  # newest first
    status, rest = listing(comments, "/projects/{projectId}/comments", pid, VERA, {"cursor": page["nextCursor"]})
    assert [c["text"] for c in rest["items"]][-1] == "Lovely cover"

    def update(principal: Principal, body: dict[str, Any], comment_id: str = first["commentId"]) -> tuple[int, Any]:
        return call(
            comments,
            api_event(
                "PUT",
                "/projects/{projectId}/comments/{commentId}",
                principal=principal,
                body=body,
                path_params={"projectId": pid, "commentId": comment_id},
            ),
        )

    assert update(ANNA, {"text": "mine now"})[0] == 403  # not the author
    status, edited = update(CARL, {"text": "Lovely cover!"})
    assert status == 200 and edited["text"] == "Lovely cover!" and edited["editedAt"]
    assert update(CARL, {"resolved": True})[0] == 403  # a commenter does not resolve
    status, resolved = update(ANNA, {"resolved": True})
    assert status == 200 and resolved["resolvedBy"] == "anna"
    assert update(ANNA, {})[0] == 400
    assert update(ANNA, {"text": "x"}, "not-an-id")[0] == 404
    gone = api_event(
        "DELETE",
        "/projects/{projectId}/comments/{commentId}",
        principal=ANNA,
        path_params={"projectId": pid, "commentId": first["commentId"]},
    )
    assert call(comments, gone)[0] == 403
    gone["requestContext"]["authorizer"] = {"principalId": "x", **CARL.to_context()}
    assert call(comments, gone)[0] == 204
    assert aws.item(f"T#shop-a#P#{pid}", "COMMENTS")["count"] == 4


def test_a_project_has_at_most_10000_comments(aws: Aws, projects: Any, members: Any, comments: Any) -> None:
    pid = create(projects, [])["projectId"]
    factory.table().put({"pk": f"T#shop-a#P#{pid}", "sk": "COMMENTS", "entity": "comment_counter", "count": 10_000})
    status, body = comment(comments, pid, ALICE, {"text": "one more"})
    assert status == 409 and body["error"]["details"] == {"maxComments": 10_000}


def test_activity_lists_saves_joins_leaves_and_comments_since_a_time(
    aws: Aws, projects: Any, members: Any, comments: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = create(projects, [])["projectId"]
    join(members, pid, "editor", ANNA)
    anna_file = stored_file(ANNA)
    assert save(projects, pid, [anna_file.file_id], 1, ANNA)[0] == 200
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", "600")
    assert comment(comments, pid, ALICE, {"text": "great"})[0] == 201
    assert remove(members, pid, "anna", ANNA) == 204

    status, page = listing(comments, "/projects/{projectId}/activity", pid, ALICE)
    assert status == 200
    assert [(a["kind"], a["userId"]) for a in page["items"]] == [
        ("joined", "anna"),
        ("saved", "anna"),
        ("commented", "alice"),
        ("left", "anna"),
    ]
    assert page["items"][1]["filesAdded"] == 1 and page["items"][1]["version"] == 2
    later = page["items"][2]["at"]
    status, recent = listing(comments, "/projects/{projectId}/activity", pid, ALICE, {"since": later})
    assert [a["kind"] for a in recent["items"]] == ["commented", "left"]
    status, first = listing(comments, "/projects/{projectId}/activity", pid, ALICE, {"limit": "1"})
    assert [a["kind"] for a in first["items"]] == ["joined"] and first["nextCursor"]
    _, second = listing(comments, "/projects/{projectId}/activity", pid, ALICE, {"cursor": first["nextCursor"]})
    assert [a["kind"] for a in second["items"]] == ["saved", "commented", "left"]
    assert listing(comments, "/projects/{projectId}/activity", pid, ALICE, {"since": "yesterday"})[0] == 400
    status, future = listing(comments, "/projects/{projectId}/activity", pid, ALICE, {"since": "999999999999"})
    assert status == 200 and future["items"] == [] and future["nextCursor"] is None
    assert listing(comments, "/projects/{projectId}/activity", pid, ALICE, {"cursor": "x"})[0] == 400
    assert listing(comments, "/projects/{projectId}/activity", pid, ANNA)[0] == 404  # left


# --- race-freedom with several users ---------------------------------------------------------


def test_concurrent_saves_of_an_owner_and_two_editors_a_removal_and_a_logout_lose_nothing(
    aws: Aws, projects: Any, members: Any, atomic: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Owner and two editors save at once (each merging on 412 and retrying on 409), Ben is removed
    while saving, Anna logs out while saving; then the whole-table audit, the clock past every upload's
    retention and a sweep: every image of the current version downloads, every other one is gone."""
    from imagestore.api import status_of
    from imagestore.errors import Conflict, DomainError, NotFound, PreconditionFailed
    from project_service.logic import projects as logic
    from project_service.logic.context import project_context
    from project_service.models import ProjectInput
    from scheduler_service.logic.context import expiry_store
    from scheduler_service.logic.logout import end_session

    own = [stored_file(ALICE, retention_seconds=3600) for _ in range(3)]
    pid = create(projects, [own[0].file_id])["projectId"]
    join(members, pid, "editor", ANNA)
    join(members, pid, "editor", BEN)
    uploads = {
        ALICE: [f.file_id for f in own[1:]],
        ANNA: [stored_file(ANNA, retention_seconds=3600).file_id for _ in range(4)],
        BEN: [stored_file(BEN, retention_seconds=3600).file_id for _ in range(4)],
    }
    uploaded = {f for files in uploads.values() for f in files} | {own[0].file_id}
    outcomes: dict[str, list[int]] = {"alice": [], "anna": [], "ben": []}
    saved_once = {"anna": threading.Event(), "ben": threading.Event()}

    def editing(principal: Principal) -> None:
        """Add one own file a round and drop the oldest file of someone else's now and then: load,
        change, save with If-Match; on 412 merge with the current version the answer carries."""
        ctx = project_context("shop-a")
        for n, file_id in enumerate(uploads[principal]):
            for _ in range(12):
                try:
                    view = logic.get_project(principal, pid, ctx, int(time.time()))
                    assert not isinstance(view, type(None))
                    current = [f.file_id for f in view.files]  # type: ignore[union-attr]
                    wanted = [*current, file_id] if file_id not in current else current
                    if n % 2 and len(wanted) > 3:
                        wanted = wanted[1:]  # drop the oldest (perhaps another member's file)
                    request = ProjectInput(name="Wedding", product_type="photobook", file_ids=wanted)
                    logic.update_project(principal, pid, request, str(view.version), ctx, int(time.time()))
                    outcomes[principal.user_id].append(200)
                    if principal.user_id in saved_once:
                        saved_once[principal.user_id].set()
                    break
                except NotFound:
                    outcomes[principal.user_id].append(404)  # removed meanwhile
                    return
                except PreconditionFailed:
                    outcomes[principal.user_id].append(412)
                except Conflict:
                    outcomes[principal.user_id].append(409)
                    time.sleep(0.01)
                except DomainError as refused:  # 422: an upload the logout removed before it was added
                    outcomes[principal.user_id].append(status_of(refused))
                    break

    def removing_ben() -> None:  # while Ben is still saving
        assert saved_once["ben"].wait(60)
        assert remove(members, pid, "ben") == 204

    def anna_logs_out() -> None:  # while Anna is still saving
        assert saved_once["anna"].wait(60)
        end_session(expiry_store(), "shop-a", "anna", "s2", int(time.time()))

    with ThreadPoolExecutor(5) as pool:
        running = [pool.submit(editing, p) for p in (ALICE, ANNA, BEN)]
        running += [pool.submit(removing_ben), pool.submit(anna_logs_out)]
        for future in running:
            future.result()

    assert 200 in outcomes["alice"] and 200 in outcomes["anna"], outcomes
    assert any(code in (412, 409) for codes in outcomes.values() for code in codes), outcomes  # they did race
    now = int(time.time())
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, now) == []

    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(2 * DAY))  # past every upload's retention
    run_sweep()
    assert audit(aws.dynamodb, aws.s3, TABLE, BUCKET, now + 2 * DAY) == []
    status, final = call(
        projects, api_event("GET", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid})
    )
    assert status == 200
    kept = {f["fileId"]: f for f in final["files"]}
    assert kept
    for file_id, view in kept.items():
        assert requests.get(view["downloadUrl"], timeout=10).status_code == 200, (file_id, view["addedBy"])
    owner_of = {f: u.user_id for u, files in uploads.items() for f in files} | {own[0].file_id: "alice"}
    for file_id in uploaded - set(kept):
        assert aws.item(f"T#shop-a#U#{owner_of[file_id]}", f"FILE#{file_id}") is None, file_id
        assert not aws.object_exists(f"shop-a/{owner_of[file_id]}/{file_id}")
