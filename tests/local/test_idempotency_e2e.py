"""Idempotency keys over HTTP against the local stack (one function worker per request, as Lambda runs
them): many clients retrying one POST /projects at once with one key make exactly one project, every
answer is that project or a retryable 409 with Retry-After, and the key with another body is a 422."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.stack import StackHandle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(shared_stack: StackHandle) -> StackHandle:
    return shared_stack  # tests/local/conftest.py: one stack per worker


def test_concurrent_posts_with_one_key_make_one_project(stack: StackHandle) -> None:
    tenant = f"idem-{uuid.uuid4().hex[:8]}"
    token = stack.mint_token(tenant, "editor", session="s-idem")
    key = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    body = {"name": "Wedding", "productType": "book"}

    def post(_: int) -> requests.Response:
        return requests.post(f"{stack.base_url}/projects", json=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(post, range(8)))

    created: set[str] = set()
    for answer in answers:
        if answer.status_code == 409:  # the first request still runs: retry after the time it names
            assert answer.json()["error"]["code"] == "idempotency_key_in_use", answer.text
            assert int(answer.headers["Retry-After"]) >= 1
            continue
        assert answer.status_code == 201, answer.text
        created.add(answer.json()["projectId"])
    assert len(created) == 1, created

    # A retry after the first finished replays it, whatever answer the client saw before.
    replay = post(0)
    assert replay.status_code == 201 and replay.json()["projectId"] in created

    listed: list[dict[str, Any]] = requests.get(
        f"{stack.base_url}/projects", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ).json()["items"]
    assert [p["projectId"] for p in listed] == list(created)

    other = requests.post(f"{stack.base_url}/projects", json={**body, "name": "Other"}, headers=headers, timeout=60)
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused" and other.json()["error"]["requestId"]
