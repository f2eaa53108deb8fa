"""Retention as a new user sees it, over HTTP against the local stack: the clock moves, the sweep runs."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.stack import StackHandle, running_stack

pytestmark = pytest.mark.e2e


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def upload(stack: StackHandle, headers: dict[str, str], data: bytes) -> str:
    created = requests.post(
        f"{stack.base_url}/uploads",
        headers=headers,
        timeout=30,
        json={"filename": "a.png", "contentType": "image/png", "sizeBytes": len(data)},
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    posted = requests.post(
        ticket["upload"]["url"],
        data=ticket["upload"]["fields"],
        files={"file": ("a.png", data, "image/png")},
        timeout=30,
    )
    assert posted.status_code in (200, 201, 204), posted.text
    completed = requests.post(f"{stack.base_url}/uploads/{ticket['fileId']}/complete", headers=headers, timeout=30)
    assert completed.status_code == 200, completed.text
    return str(ticket["fileId"])


def status(stack: StackHandle, headers: dict[str, str], file_id: str) -> int:
    return requests.get(f"{stack.base_url}/files/{file_id}", headers=headers, timeout=30).status_code


def upload_two_and_save_one(stack: StackHandle, headers: dict[str, str], data: bytes) -> tuple[str, str]:
    """Two uploads of one session; the second is saved in a project. Their file ids (unsaved, saved)."""
    unsaved, saved = upload(stack, headers, data), upload(stack, headers, data)
    project = requests.post(
        f"{stack.base_url}/projects",
        headers=headers,
        timeout=30,
        json={"name": "Summer", "productType": "photobook", "fileIds": [saved]},
    )
    assert project.status_code == 201, project.text
    return unsaved, saved


def sweep(stack: StackHandle) -> dict[str, object]:
    response = requests.post(f"{stack.base_url}/_local/functions/scheduler/sweep/invoke", json={}, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def test_unsaved_uploads_go_saved_ones_stay_and_logout_is_at_once(tmp_path: Path) -> None:
    data = _png()
    with running_stack(tmp_path / "data") as stack:
        headers = {"Authorization": f"Bearer {stack.mint_token('t1', 'u1', session='desk-1')}"}
        unsaved, saved = upload_two_and_save_one(stack, headers, data)

        moved = requests.post(f"{stack.base_url}/_local/clock", json={"advanceSeconds": 6 * 3600 + 60}, timeout=10)
        assert moved.status_code == 200
        assert sweep(stack)["files_removed"] == 1  # the unsaved one, bytes and item

        assert status(stack, headers, unsaved) == 404
        assert status(stack, headers, saved) == 200
        download = requests.get(f"{stack.base_url}/files/{saved}", headers=headers, timeout=30).json()["downloadUrl"]
        assert requests.get(download, timeout=30).content == data

        # A new session: its unsaved upload goes at once when the shop says the user logged out.
        headers = {"Authorization": f"Bearer {stack.mint_token('t1', 'u1', session='desk-2')}"}
        later = upload(stack, headers, data)
        logout = subprocess.run(
            [
                sys.executable,
                "-m",
                "imagestore_local.cli",
                "logout",
                "--tenant",
                "t1",
                "--user",
                "u1",
                "--session",
                "desk-2",
                "--url",
                stack.base_url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert logout.returncode == 0, logout.stdout + logout.stderr
        assert status(stack, headers, later) == 404
        assert status(stack, headers, saved) == 200


def test_ttl_removes_what_the_sweep_did_not_and_the_stream_function_deletes_its_object(tmp_path: Path) -> None:
    """The backstop path, locally: an unsaved upload's item passes its TTL (retention + 7 days) with no
    sweep run; `imagestore-local ttl` deletes it as DynamoDB's TTL would and hands the REMOVE record to
    the scheduler's ttlStream function, which deletes the image's object."""
    data = _png()
    with running_stack(tmp_path / "data") as stack:
        headers = {"Authorization": f"Bearer {stack.mint_token('t1', 'u1', session='desk-1')}"}
        unsaved, saved = upload_two_and_save_one(stack, headers, data)
        download = requests.get(f"{stack.base_url}/files/{unsaved}", headers=headers, timeout=30).json()["downloadUrl"]
        assert requests.get(download, timeout=30).content == data

        requests.post(
            f"{stack.base_url}/_local/clock", json={"advanceSeconds": 6 * 3600 + 7 * 86400 + 60}, timeout=10
        ).raise_for_status()
        ttl = subprocess.run(
            [sys.executable, "-m", "imagestore_local.cli", "ttl", "--url", stack.base_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ttl.returncode == 0, ttl.stdout + ttl.stderr
        import json

        report = json.loads(ttl.stdout)
        assert report["deleted"] == {"imagestore-local": 1}, report
        (delivered,) = report["invocations"]
        assert delivered["function"] == "scheduler/ttlStream"
        assert delivered["result"] == {"items": 1, "objectsDeleted": 1}

        assert status(stack, headers, unsaved) == 404
        assert not object_exists(stack, f"t1/u1/{unsaved}"), "the object went with the item"
        assert status(stack, headers, saved) == 200, "a held image's item has no TTL that passed"
        assert object_exists(stack, f"t1/u1/{saved}")


def object_exists(stack: StackHandle, key: str) -> bool:
    """Whether the stack's bucket has key (asked of its S3 emulator directly)."""
    from botocore.exceptions import ClientError

    health = requests.get(f"{stack.base_url}/_local/health", timeout=10).json()
    s3 = stack.s3_client()
    try:
        s3.head_object(Bucket=health["buckets"][0], Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True
