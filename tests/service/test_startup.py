"""The garbage collector paused while a Lambda execution environment loads resumes when any
function's first invocation returns, whatever that invocation does."""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagestore import startup
from tests.conftest import Aws

ROOT = Path(__file__).resolve().parents[2]


def _functions() -> list[tuple[str, str, str, dict[str, Any]]]:
    from benchmarks.cold_start import discover

    functions, missing = discover()
    assert not missing
    return [(f"{f.service}/{f.key}", f.module, f.attribute, f.event) for f in functions]


@pytest.fixture
def paused_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in Lambda: the collector paused by imagestore's import."""
    monkeypatch.setattr(startup, "_paused", True)
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


@pytest.mark.parametrize(("name", "module", "attribute", "event"), _functions(), ids=lambda v: str(v)[:40])
def test_every_function_resumes_the_collector_after_its_first_invocation(
    aws: Aws, paused_collector: None, name: str, module: str, attribute: str, event: dict[str, Any]
) -> None:
    handler = getattr(importlib.import_module(module), attribute)

    class Context:
        function_name, function_version, memory_limit_in_mb = name, "$LATEST", 1024
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:unit"
        aws_request_id, log_group_name, log_stream_name = "req-1", "/aws/lambda/unit", "unit"

        def get_remaining_time_in_millis(self) -> int:
            return 60_000

    with contextlib.suppress(Exception):  # refusing the event (the authorizer raises) resumes it too
        handler(event, Context())
    assert gc.isenabled() and not startup._paused
    assert gc.get_freeze_count() > 0, "what loading created is frozen"


def _collector_after_import(environment: dict[str, str]) -> dict[str, Any]:
    code = (
        "import gc, json, sys\nimport file_service.handlers.files as m\n"
        "print(json.dumps({'enabled': gc.isenabled(), 'wrapped': m.handler.__wrapped__ is not None}))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": ":".join(str(ROOT / p) for p in ("layer", "services/file")),
        **environment,
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_in_lambda_the_collector_waits_while_the_function_loads() -> None:
    assert _collector_after_import({"LAMBDA_TASK_ROOT": str(ROOT)}) == {"enabled": False, "wrapped": True}


def test_elsewhere_the_collector_is_left_alone() -> None:
    assert _collector_after_import({}) == {"enabled": True, "wrapped": True}
