"""Concurrent requests of different users against the local stack: each function runs in worker processes of
its own, one invocation at a time per worker, so no request reads another's event or log keys (issue 29's
reproduction: concurrent GET and PUT with If-Match of 40 users answered 428 to a third of the PUTs when every
invocation ran on a thread of one process)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.stack import StackHandle, running_stack

pytestmark = pytest.mark.e2e

USERS = 50


class User:
    def __init__(self, stack: StackHandle, n: int) -> None:
        self.n = n
        self.base = stack.base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {stack.mint_token(f'tc{n % 7}', f'user{n}')}"

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.session.request(method, f"{self.base}{path}", json=body, headers=headers or {}, timeout=120)


def _document(n: int, round_: int) -> dict[str, Any]:
    """A photo-book document of about 200 KB, its pages naming the user and the round."""
    return {
        "owner": n,
        "round": round_,
        "pages": [{"text": f"user{n} round{round_} " + "x" * 2000} for _ in range(100)],
    }


def test_concurrent_requests_of_50_users_each_get_their_own_answers_and_log_keys(tmp_path: Path) -> None:
    with running_stack(tmp_path / "data") as stack:
        users = [User(stack, n) for n in range(USERS)]
        with ThreadPoolExecutor(USERS) as pool:
            created = list(
                pool.map(
                    lambda u: u.call(
                        "POST",
                        "/projects",
                        {"name": f"book of user{u.n}", "productType": "photobook", "document": _document(u.n, 0)},
                    ),
                    users,
                )
            )
            assert [r.status_code for r in created] == [201] * USERS, [r.text for r in created if r.status_code != 201]
            ids = [r.json()["projectId"] for r in created]

            for round_ in (1, 2):

                def get_and_put(u: User, round_: int = round_) -> tuple[Any, Any]:
                    pid = ids[u.n]
                    read = u.call("GET", f"/projects/{pid}")
                    saved = u.call(
                        "PUT",
                        f"/projects/{pid}",
                        {"name": f"book of user{u.n}", "productType": "photobook", "document": _document(u.n, round_)},
                        {"If-Match": f'"{round_}"'},
                    )
                    return read, saved

                answers = list(pool.map(get_and_put, users))
                for u, (read, saved) in zip(users, answers, strict=True):
                    assert read.status_code == 200, read.text
                    assert read.json()["name"] == f"book of user{u.n}"
                    assert read.json()["document"]["round"] == round_ - 1
                    assert saved.status_code == 200, f"user{u.n} round {round_}: {saved.status_code} {saved.text}"
                    assert saved.json()["version"] == round_ + 1

            deleted = list(pool.map(lambda u: u.call("DELETE", f"/projects/{ids[u.n]}"), users))
        assert [r.status_code for r in deleted] == [204] * USERS
        request_ids = {r.headers["X-Amzn-RequestId"]: ids[n] for n, r in enumerate(deleted)}
        for n, pid in enumerate(ids):
            assert users[n].call("GET", f"/projects/{pid}").status_code == 404

        # Every "project deleted" log line names the project of the request it was logged for.
        logged = [json.loads(line) for line in stack.log_path.read_text().splitlines() if line.startswith("{")]
        deletions = [line for line in logged if line.get("message") == "project deleted"]
        assert {line["correlation_id"] for line in deletions} == set(request_ids)  # the logic's and the handler's
        for line in deletions:
            assert line["function_request_id"] == line["correlation_id"]
            assert request_ids[line["correlation_id"]] == line["project_id"], line
