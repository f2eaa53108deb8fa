"""ETags of projects (the versioned resource) in-process against moto: every GET, POST and PUT answers
the version's ETag; If-None-Match with the current one answers 304 from one GetItem."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagestore.auth import Principal
from tests.conftest import Aws
from tests.support.events import LambdaContext, api_event
from tests.support.files import stored_file

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s2")


def send(
    handler: Any,
    method: str,
    resource: str,
    *,
    principal: Principal = ALICE,
    body: Any = None,
    path_params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    response = handler(
        api_event(method, resource, principal=principal, body=body, path_params=path_params, headers=headers),
        LambdaContext(),
    )
    flat = {k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}
    flat.update(response.get("headers") or {})
    text = response.get("body")
    return response["statusCode"], (json.loads(text) if text else None), flat


def project_body(file_ids: list[str]) -> dict[str, Any]:
    return {"name": "Summer", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}


def get(
    projects: Any, project_id: str, if_none_match: str | None = None, principal: Principal = ALICE
) -> tuple[int, Any, dict[str, str]]:
    headers = {"If-None-Match": if_none_match} if if_none_match is not None else None
    return send(
        projects,
        "GET",
        "/projects/{projectId}",
        principal=principal,
        path_params={"projectId": project_id},
        headers=headers,
    )


def test_create_get_and_save_answer_the_versions_etag(projects: Any) -> None:
    f = stored_file(ALICE)
    status, created, headers = send(projects, "POST", "/projects", body=project_body([f.file_id]))
    assert status == 201 and headers["ETag"] == '"1"' and created["version"] == 1
    pid = created["projectId"]

    status, loaded, headers = get(projects, pid)
    assert status == 200 and headers["ETag"] == '"1"' and loaded["version"] == 1

    status, saved, headers = send(
        projects,
        "PUT",
        "/projects/{projectId}",
        path_params={"projectId": pid},
        body=project_body([f.file_id]),
        headers={"If-Match": headers["ETag"]},
    )
    assert status == 200 and headers["ETag"] == '"2"' and saved["version"] == 2


@pytest.mark.parametrize("tag", ['"1"', 'W/"1"', "1", '"7", "1"', "*"])
def test_if_none_match_with_the_current_version_is_a_304_from_one_read(aws: Aws, projects: Any, tag: str) -> None:
    f = stored_file(ALICE)
    _, created, _ = send(projects, "POST", "/projects", body=project_body([f.file_id]))
    aws.requests.reset()

    status, body, headers = get(projects, created["projectId"], tag)

    assert status == 304 and body is None and headers["ETag"] == '"1"'
    assert dict(aws.requests.calls) == {"dynamodb.GetItem": 1}  # no document read, no URL signed


def test_if_none_match_with_an_older_version_answers_the_new_one(projects: Any) -> None:
    f = stored_file(ALICE)
    _, created, _ = send(projects, "POST", "/projects", body=project_body([f.file_id]))
    pid = created["projectId"]
    send(
        projects,
        "PUT",
        "/projects/{projectId}",
        path_params={"projectId": pid},
        body=project_body([f.file_id]),
        headers={"If-Match": '"1"'},
    )

    for tag in ('"1"', "not-a-version", '""'):
        status, loaded, headers = get(projects, pid, tag)
        assert status == 200 and loaded["version"] == 2 and headers["ETag"] == '"2"', tag


def test_another_users_if_none_match_is_still_a_404(projects: Any) -> None:
    f = stored_file(ALICE)
    _, created, _ = send(projects, "POST", "/projects", body=project_body([f.file_id]))

    status, body, _ = get(projects, created["projectId"], "*", principal=BOB)

    assert status == 404 and body["error"]["code"] == "not_found"
    assert get(projects, "not-an-id", '"1"')[0] == 404


def test_a_copy_answers_its_etag(projects: Any, shares: Any) -> None:
    f = stored_file(ALICE)
    _, created, _ = send(projects, "POST", "/projects", body=project_body([f.file_id]))
    _, share, _ = send(
        shares,
        "POST",
        "/projects/{projectId}/shares",
        path_params={"projectId": created["projectId"]},
        body={"mode": "copy", "expiresInDays": 7},
    )

    status, copy, headers = send(
        shares, "POST", "/shares/{token}/copies", principal=BOB, path_params={"token": share["token"]}
    )

    assert status == 201 and headers["ETag"] == f'"{copy["version"]}"'
    assert get(projects, copy["projectId"], headers["ETag"], principal=BOB)[0] == 304
