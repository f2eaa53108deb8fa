"""The API against its OpenAPI document, over HTTP against the local stack: the document and the docs page
answer without a token, and Schemathesis (fixed seed, bounded budget) finds no server error, no
undocumented status, no response outside its schema and no undocumented content type.

Each run's JUnit and JSON reports and its output are kept in reports/schemathesis/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.stack import ROOT, StackHandle

pytestmark = pytest.mark.e2e

REPORT_DIR = ROOT / "reports" / "schemathesis"
SEED = 16
# Per operation and phase; fuzzing and the stateful phase then repeat until --max-time (60 s) is spent.
MAX_EXAMPLES = 10
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module")
def stack(shared_stack: StackHandle) -> StackHandle:
    return shared_stack  # tests/local/conftest.py: one stack per worker


def test_the_document_and_the_docs_page_answer_without_a_token(stack: StackHandle) -> None:
    served = requests.get(f"{stack.base_url}/openapi.json", timeout=30)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("application/json")
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    document = served.json()
    assert document["servers"] == [{"url": stack.base_url, "description": "This local stack"}]
    assert {k: v for k, v in document.items() if k != "servers"} == {
        k: v for k, v in committed.items() if k != "servers"
    }

    page = requests.get(f"{stack.base_url}/docs", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'url: "/openapi.json"' in page.text
    # Every script and stylesheet of the page comes from this stack, none from the internet.
    assets = [part.split('"', 1)[0] for part in page.text.split('src="')[1:] + page.text.split('href="')[1:]]
    assert assets and all(asset.startswith("/docs/") for asset in assets), assets
    for asset in assets:
        got = requests.get(f"{stack.base_url}{asset}", timeout=30)
        assert got.status_code == 200 and len(got.content) > 100, asset
    assert requests.get(f"{stack.base_url}/docs/../package.json", timeout=30).status_code == 404
    refused = requests.post(f"{stack.base_url}/openapi.json", timeout=30)
    assert refused.status_code == 405 and refused.json()["error"]["code"] == "method_not_allowed"


def schemathesis(
    stack: StackHandle, token: str, name: str, cwd: Path, *options: str, config: Path | None = None, max_time: int = 60
) -> tuple[dict[str, Any], str]:
    """Run `st run` against the stack's document with `token`; its report (JSON) and the end of its output.
    Reports go to reports/schemathesis/<name>.*; the working directory takes Schemathesis' own cache."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    for old in REPORT_DIR.glob(f"{name}.*"):
        old.unlink()
    command = [
        str(Path(sys.executable).with_name("st")),
        *(["--config-file", str(config)] if config else []),
        "run",
        f"{stack.base_url}/openapi.json",
        *options,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        # One worker: the run is reproducible from its seed (and hypothesis' lambda introspection is not
        # thread-safe: two workers sometimes end in an internal error of the generator).
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--max-time",
        str(max_time),
        "--generation-database",
        "none",
        "--report",
        "junit,json",
        "--report-junit-path",
        str(REPORT_DIR / f"{name}.junit.xml"),
        "--report-json-path",
        str(REPORT_DIR / f"{name}.json"),
    ]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "160"}
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=max_time + 300, check=False
    )
    (REPORT_DIR / f"{name}.txt").write_text(result.stdout + result.stderr, encoding="utf-8")
    report: dict[str, Any] = json.loads((REPORT_DIR / f"{name}.json").read_text(encoding="utf-8"))
    summary = result.stdout[-6000:] + result.stderr[-2000:]
    assert report["complete"] and report["operations"]["tested"] == report["operations"]["selected"], summary
    assert report["failures"] == [], summary
    assert report["errors"] == [], summary
    assert result.returncode == 0, summary
    return report, summary


def accepted(report: dict[str, Any]) -> set[str]:
    """The operations called at least once with data the API accepted (not only refused or 404)."""
    return {op for op, phases in report["valid_rates"].items() if any(rates["accepted"] for rates in phases.values())}


def test_schemathesis_finds_no_server_error_and_no_schema_violation(stack: StackHandle, tmp_path: Path) -> None:
    token = stack.mint_token("fuzz-tenant", "fuzzer", session="fuzz-session")
    report, summary = schemathesis(stack, token, "user", tmp_path)
    assert report["operations"]["tested"] == report["operations"]["total"], summary
    assert report["test_cases"]["generated"] > 200, summary  # a run that did little is no evidence
    assert {"POST /uploads", "POST /projects", "POST /mobile-uploads", "POST /cart-items"} <= accepted(report)


def test_schemathesis_with_a_phones_mobile_upload_token(stack: StackHandle, tmp_path: Path) -> None:
    """The phone's capability token on the operations its scope allows (the others answer 403 at the gateway)."""
    user = stack.mint_token("fuzz-tenant", "desktop", session="fuzz-desktop")
    created = requests.post(
        f"{stack.base_url}/mobile-uploads",
        json={"retention": "session"},
        timeout=30,
        headers={"Authorization": f"Bearer {user}"},
    )
    assert created.status_code == 201, created.text
    config = tmp_path / "schemathesis.toml"  # the path parameter of the phone's session: its mobile upload
    config.write_text(f'[parameters]\nmobileUploadId = "{created.json()["mobileUploadId"]}"\n', encoding="utf-8")
    report, summary = schemathesis(
        stack,
        created.json()["token"],
        "mobile-upload",
        tmp_path,
        "--include-operation-id",
        "requestUpload",
        "--include-operation-id",
        "completeUpload",
        "--include-operation-id",
        "phoneSession",
        config=config,
        max_time=20,
    )
    assert report["operations"]["selected"] == 3, summary
    assert {"POST /uploads", "GET /mobile-uploads/{mobileUploadId}/session"} <= accepted(report), summary


def test_the_hostile_inputs_of_issue_24_are_4xx_answers_of_bounded_size(stack: StackHandle) -> None:
    """Inputs Schemathesis does not make up: a 4 MiB body of escaped quotes (the depth pre-check was
    quadratic: hours of CPU), 100,000 unknown keys (a 6.4 MB 400 answer: a 502), a forged filesCursor."""
    headers = {
        "Authorization": f"Bearer {stack.mint_token('fuzz-tenant', 'hostile', session='s-hostile')}",
        "Content-Type": "application/json",
    }
    escapes = b'{"filename": "' + b'\\"' * (512 * 1024)  # 1 MiB: hours for the old pre-check
    answer = requests.post(f"{stack.base_url}/uploads", data=escapes, headers=headers, timeout=60)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_request"

    keys = json.dumps(
        {"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10, **{f"k{i:05d}": 0 for i in range(100_000)}}
    )
    answer = requests.post(f"{stack.base_url}/uploads", data=keys, headers=headers, timeout=60)
    assert answer.status_code == 400 and len(answer.content) < 10_000
    details = answer.json()["error"]["details"]
    assert len(details["problems"]) == 20 and details["problemCount"] == 100_000

    created = requests.post(
        f"{stack.base_url}/projects", json={"name": "p", "productType": "book"}, headers=headers, timeout=60
    )
    assert created.status_code == 201 and created.json()["filesNextCursor"] is None
    for forged in ("MS4x", "x" * 41, "%00"):
        answer = requests.get(
            f"{stack.base_url}/projects/{created.json()['projectId']}",
            params={"filesCursor": forged},
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_cursor", forged
