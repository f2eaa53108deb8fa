"""Project API handlers in-process against moto: versions, holds, isolation, request counts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from imagestore.auth import Principal
from tests.conftest import Aws
from tests.support.events import api_event, call
from tests.support.files import stored_file, stored_files
from tests.support.scheduler import run_sweep

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s2")
OTHER_TENANT = Principal("shop-b", "alice", "s1")


def create(handler: Any, file_ids: list[str], principal: Principal = ALICE, document: Any = None) -> tuple[int, Any]:
    body = {
        "name": "Summer",
        "productType": "photobook",
        "document": document or {"pages": file_ids},
        "fileIds": file_ids,
    }
    return call(handler, api_event("POST", "/projects", principal=principal, body=body))


def load(handler: Any, project_id: str, principal: Principal = ALICE) -> tuple[int, Any]:
    return call(
        handler, api_event("GET", "/projects/{projectId}", principal=principal, path_params={"projectId": project_id})
    )


def save(
    handler: Any, project_id: str, file_ids: list[str], if_match: str | None, principal: Principal = ALICE
) -> tuple[int, Any]:
    headers = {"If-Match": if_match} if if_match is not None else {}
    body = {"name": "Summer", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
    return call(
        handler,
        api_event(
            "PUT",
            "/projects/{projectId}",
            principal=principal,
            body=body,
            path_params={"projectId": project_id},
            headers=headers,
        ),
    )


def hold_count(aws: Aws, file_id: str, user: str = "alice") -> int:
    item = aws.item(f"T#shop-a#U#{user}", f"FILE#{file_id}")
    assert item is not None
    return int(item["holdCount"])


def test_save_and_load_a_project_with_its_files(aws: Aws, projects: Any) -> None:
    f1, f2 = stored_file(ALICE), stored_file(ALICE)
    status, created = create(projects, [f1.file_id, f2.file_id])
    assert status == 201, created
    assert created["version"] == 1

    status, loaded = load(projects, created["projectId"])

    assert status == 200
    assert loaded["document"] == {"pages": [f1.file_id, f2.file_id]}
    assert [f["fileId"] for f in loaded["files"]] == [f1.file_id, f2.file_id]
    assert requests.get(loaded["files"][0]["downloadUrl"], timeout=10).status_code == 200
    assert hold_count(aws, f1.file_id) == 1
    assert aws.item(f"T#shop-a#P#{created['projectId']}", "META")["entity"] == "project"


def test_a_held_file_cannot_be_deleted_until_the_project_lets_go(aws: Aws, projects: Any, files: Any) -> None:
    f1, f2 = stored_file(ALICE), stored_file(ALICE)
    _, project = create(projects, [f1.file_id, f2.file_id])
    delete = api_event("DELETE", "/files/{fileId}", principal=ALICE, path_params={"fileId": f1.file_id})
    assert call(files, delete)[0] == 409

    status, saved = save(projects, project["projectId"], [f2.file_id], '"1"')

    assert status == 200 and saved["version"] == 2
    assert hold_count(aws, f1.file_id) == 0 and hold_count(aws, f2.file_id) == 1
    assert call(files, delete)[0] == 204


def test_only_own_available_files_can_be_referenced(aws: Aws, projects: Any) -> None:
    mine, bobs = stored_file(ALICE), stored_file(BOB)
    status, body = create(projects, [mine.file_id, bobs.file_id, "nonsense"])
    assert status == 422
    assert body["error"]["details"]["unavailableFileIds"] == [bobs.file_id, "nonsense"]
    assert hold_count(aws, mine.file_id) == 0


def test_update_needs_the_current_version(aws: Aws, projects: Any) -> None:
    f1 = stored_file(ALICE)
    _, project = create(projects, [f1.file_id])
    pid = project["projectId"]
    assert save(projects, pid, [f1.file_id], None)[0] == 428
    assert save(projects, pid, [f1.file_id], "abc")[0] == 400
    assert save(projects, pid, [f1.file_id], "1")[0] == 200
    status, body = save(projects, pid, [f1.file_id], "1")
    assert status == 412
    # The current version comes with the 412 (docs/collaboration.md): the client merges and retries.
    assert body["error"]["details"]["currentVersion"] == 2
    assert body["error"]["details"]["current"]["version"] == 2
    assert save(projects, pid, [f1.file_id], 'W/"2"')[0] == 200


def test_two_saves_of_one_version_one_wins_and_holds_stay_exact(aws: Aws, projects: Any, atomic: None) -> None:
    base, a, b = stored_file(ALICE), stored_file(ALICE), stored_file(ALICE)
    _, project = create(projects, [base.file_id])
    pid = project["projectId"]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda f: save(projects, pid, [f], "1"), [a.file_id, b.file_id]))

    statuses = sorted(status for status, _ in results)
    assert statuses in ([200, 409], [200, 412])  # the loser is too late (412) or finds the winner saving (409)
    winner = next(body for status, body in results if status == 200)
    won_file = winner["fileIds"] if "fileIds" in winner else [f["fileId"] for f in winner["files"]]
    loser_file = ({a.file_id, b.file_id} - set(won_file)).pop()
    assert hold_count(aws, won_file[0]) == 1
    assert hold_count(aws, loser_file) == 0
    assert hold_count(aws, base.file_id) == 0
    assert [f["fileId"] for f in load(projects, pid)[1]["files"]] == won_file


def test_other_users_and_tenants_get_404(projects: Any) -> None:
    f1 = stored_file(ALICE)
    _, project = create(projects, [f1.file_id])
    pid = project["projectId"]
    for intruder in (BOB, OTHER_TENANT):
        assert load(projects, pid, intruder)[0] == 404
        assert save(projects, pid, [], "1", intruder)[0] == 404
        delete = api_event("DELETE", "/projects/{projectId}", principal=intruder, path_params={"projectId": pid})
        assert call(projects, delete)[0] == 404
        _, listing = call(projects, api_event("GET", "/projects", principal=intruder))
        assert listing["items"] == []


def test_delete_hides_at_once_and_the_sweep_releases_files(aws: Aws, projects: Any) -> None:
    f1 = stored_file(ALICE)
    _, project = create(projects, [f1.file_id])
    pid = project["projectId"]
    delete = api_event("DELETE", "/projects/{projectId}", principal=ALICE, path_params={"projectId": pid})

    assert call(projects, delete)[0] == 204
    assert load(projects, pid)[0] == 404
    assert call(projects, delete)[0] == 404
    assert hold_count(aws, f1.file_id) == 1  # released in the background, by the next sweep
    run_sweep()
    assert hold_count(aws, f1.file_id) == 0
    assert aws.item(f"T#shop-a#P#{pid}", "META") is None
    assert aws.item(f"T#shop-a#P#{pid}", f"FILE#{f1.file_id}") is None


def test_list_is_most_recently_saved_first_and_paginated(projects: Any) -> None:
    import time

    ids = []
    for _ in range(3):
        ids.append(create(projects, [])[1]["projectId"])
        time.sleep(1.05)
    save(projects, ids[0], [], "1")
    seen, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = call(projects, api_event("GET", "/projects", principal=ALICE, query=query))
        assert status == 200
        seen += [p["projectId"] for p in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == [ids[0], ids[2], ids[1]]
    status, body = call(projects, api_event("GET", "/projects", principal=BOB, query={"cursor": page_cursor(projects)}))
    assert status == 400 and body["error"]["code"] == "invalid_cursor"


def page_cursor(projects: Any) -> str:
    _, page = call(projects, api_event("GET", "/projects", principal=ALICE, query={"limit": "1"}))
    return page["nextCursor"]


def test_a_500_image_photo_book_loads_with_one_item_read_and_one_object_read(aws: Aws, projects: Any) -> None:
    ids = [f.file_id for f in stored_files(ALICE, 500)]
    status, project = create(projects, ids)
    assert status == 201, project

    aws.requests.reset()
    status, loaded = load(projects, project["projectId"])

    assert status == 200
    assert [f["fileId"] for f in loaded["files"]] == ids[:200] and loaded["fileCount"] == 500  # a page of 200
    assert aws.requests.calls["dynamodb.GetItem"] == 1 and aws.requests.calls["s3.GetObject"] == 1
    assert set(aws.requests.calls) <= {"dynamodb.GetItem", "s3.GetObject", "dynamodb.UpdateItem"}
    meta = aws.item(f"T#shop-a#P#{project['projectId']}", "META")
    assert "fileIds" not in meta and "document" not in meta  # META stays small whatever the book's size


def test_the_document_lives_in_the_version_manifest_in_s3(aws: Aws, projects: Any) -> None:
    document = {"pages": [{"text": "x" * 1000, "n": i} for i in range(600)]}
    status, project = create(projects, [], document=document)
    assert status == 201
    meta = aws.item(f"T#shop-a#P#{project['projectId']}", "META")
    assert "document" not in meta
    assert meta["manifestKey"].startswith(f"shop-a/documents/projects/{project['projectId']}/v1-")
    assert load(projects, project["projectId"])[1]["document"] == document
