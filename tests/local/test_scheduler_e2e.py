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
    created = requests.post(f"{stack.base_url}/uploads", headers=headers, timeout=30,
                            json={"filename": "a.png", "contentType": "image/png", "sizeBytes": len(data)})
    assert created.status_code == 201, created.text
    ticket = created.json()
    posted = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                           files={"file": ("a.png", data, "image/png")}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    completed = requests.post(f"{stack.base_url}/uploads/{ticket['fileId']}/complete", headers=headers, timeout=30)
    assert completed.status_code == 200, completed.text
    return str(ticket["fileId"])


def status(stack: StackHandle, headers: dict[str, str], file_id: str) -> int:
    return requests.get(f"{stack.base_url}/files/{file_id}", headers=headers, timeout=30).status_code


def sweep(stack: StackHandle) -> dict[str, object]:
    response = requests.post(f"{stack.base_url}/_local/functions/scheduler/sweep/invoke", json={}, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def test_unsaved_uploads_go_saved_ones_stay_and_logout_is_at_once(tmp_path: Path) -> None:
    data = _png()
    with running_stack(tmp_path / "data") as stack:
        headers = {"Authorization": f"Bearer {stack.mint_token('t1', 'u1', session='desk-1')}"}
        unsaved, saved = upload(stack, headers, data), upload(stack, headers, data)
        project = requests.post(f"{stack.base_url}/projects", headers=headers, timeout=30,
                                json={"name": "Summer", "productType": "photobook", "fileIds": [saved]})
        assert project.status_code == 201, project.text

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
            [sys.executable, "-m", "imagestore_local.cli", "logout", "--tenant", "t1", "--user", "u1",
             "--session", "desk-2", "--url", stack.base_url],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert logout.returncode == 0, logout.stdout + logout.stderr
        assert status(stack, headers, later) == 404
        assert status(stack, headers, saved) == 200
