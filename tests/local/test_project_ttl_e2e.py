"""The TTL backstop never deletes a live project (issue 24), over HTTP against the local stack: a
project saved late in its life, then DynamoDB's TTL pass (`imagestore-local ttl`) with no sweep run in
between, well past the TTL the project had when it was created."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.stack import StackHandle, running_stack
from tests.local.test_scheduler_e2e import _png, object_exists, upload

pytestmark = pytest.mark.e2e

DAY = 86400


def advance(stack: StackHandle, seconds: int) -> None:
    requests.post(f"{stack.base_url}/_local/clock", json={"advanceSeconds": seconds}, timeout=10).raise_for_status()


def ttl_pass(stack: StackHandle) -> dict[str, object]:
    ttl = subprocess.run(
        [sys.executable, "-m", "imagestore_local.cli", "ttl", "--url", stack.base_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ttl.returncode == 0, ttl.stdout + ttl.stderr
    report: dict[str, object] = json.loads(ttl.stdout)
    return report


def test_a_project_saved_on_day_300_survives_a_ttl_pass_on_day_373_without_a_sweep(tmp_path: Path) -> None:
    data = _png()
    with running_stack(tmp_path / "data") as stack:
        headers = {"Authorization": f"Bearer {stack.mint_token('t1', 'u1', session='desk-1')}"}
        photo = upload(stack, headers, data)
        created = requests.post(
            f"{stack.base_url}/projects",
            headers=headers,
            timeout=30,
            json={"name": "Summer", "productType": "photobook", "fileIds": [photo]},
        )
        assert created.status_code == 201, created.text
        project = created.json()

        advance(stack, 300 * DAY)
        saved = requests.put(
            f"{stack.base_url}/projects/{project['projectId']}",
            timeout=30,
            headers={**headers, "If-Match": f'"{project["version"]}"'},
            json={"name": "Summer", "productType": "photobook", "fileIds": [photo]},
        )
        assert saved.status_code == 200, saved.text  # expires on day 665 now

        advance(stack, 73 * DAY)  # day 373: past the creation-time expiry (day 365) + 7 days
        report = ttl_pass(stack)

        assert report["deleted"] == {"imagestore-local": 0}, report
        loaded = requests.get(f"{stack.base_url}/projects/{project['projectId']}", headers=headers, timeout=30)
        assert loaded.status_code == 200, loaded.text
        assert requests.get(loaded.json()["files"][0]["downloadUrl"], timeout=30).content == data
        assert object_exists(stack, f"t1/u1/{photo}")
