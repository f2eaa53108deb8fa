"""The committed OpenAPI documents pass Redocly CLI's recommended rules (redocly.yaml) and Spectral's
`spectral:oas` ruleset (.spectral.yaml) with 0 errors and 0 warnings: what a client's tooling would
complain about fails here, with each problem listed. Both linters are npm devDependencies (`make setup`);
`make lint` runs this test too."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from deploy import openapi
from tests.e2e.stack import ROOT

BIN = ROOT / "node_modules" / ".bin"
DOCUMENTS = [str(path.relative_to(ROOT)) for path in openapi.document_paths().values()]
ENV = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}


def _json_objects(text: str) -> list[Any]:
    """Redocly writes one JSON object per linted file, one after the other."""
    decoder, objects, at = json.JSONDecoder(), [], 0
    text = text.strip()
    while at < len(text):
        value, at = decoder.raw_decode(text, at)
        objects.append(value)
        while at < len(text) and text[at].isspace():
            at += 1
    return objects


@pytest.fixture(scope="module")
def linted() -> dict[str, subprocess.CompletedProcess[str]]:
    for tool in ("redocly", "spectral"):
        assert (BIN / tool).exists(), f"{BIN / tool} is missing: run `make setup` (npm devDependencies)"
    commands = {
        "redocly": [str(BIN / "redocly"), "lint", "--format=json", *DOCUMENTS],
        "spectral": [str(BIN / "spectral"), "lint", "--format=json", "--fail-severity=hint", *DOCUMENTS],
    }
    # Both at once: each is a few seconds of Node start-up and parsing.
    running = {
        name: subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, command in commands.items()
    }
    done = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=300)
        done[name] = subprocess.CompletedProcess(commands[name], process.returncode, stdout, stderr)
    return done


def test_redocly_recommended_reports_no_error_and_no_warning(
    linted: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = linted["redocly"]
    reports = _json_objects(result.stdout)
    assert len(reports) == len(DOCUMENTS), result.stdout + result.stderr
    problems = [
        f"{p['severity']} {p['ruleId']}: {p['message']} at {[loc.get('pointer') for loc in p.get('location', [])]}"
        for report in reports
        for p in report["problems"]
    ]
    totals = [report["totals"] for report in reports]
    assert all(t["errors"] == 0 and t["warnings"] == 0 for t in totals) and not problems, "\n".join(problems)
    assert result.returncode == 0, result.stderr


def test_spectral_oas_reports_no_problem(linted: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = linted["spectral"]
    out = result.stdout.strip()
    # The JSON list of results, then (with none) a sentence saying so.
    results, _ = json.JSONDecoder().raw_decode(out)
    problems = [f"{r['source']}: {r['code']} {r['message']} at {'.'.join(map(str, r['path']))}" for r in results]
    assert not problems, "\n".join(problems)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No results with a severity of 'hint' or higher found" in out, out
