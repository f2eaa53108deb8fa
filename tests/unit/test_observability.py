"""Tracing by the X-Ray SDK is chosen by POWERTOOLS_TRACE_DISABLED, read as Powertools reads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from imagestore.config import sdk_tracing_disabled
from imagestore.observability import NullTracer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "disabled"), [("true", True), ("1", True), ("Yes", True), ("false", False), ("0", False), ("", False)]
)
def test_trace_disabled_is_read_like_powertools(monkeypatch: pytest.MonkeyPatch, value: str, disabled: bool) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", value)
    assert sdk_tracing_disabled() is disabled


def test_the_null_tracer_leaves_the_handler_as_it_is() -> None:
    def handler(event: dict, context: object) -> dict:
        return {"event": event}

    untraced = NullTracer()
    assert untraced.capture_lambda_handler(capture_response=False)(handler) is handler
    assert untraced.capture_lambda_handler(handler) is handler
    assert untraced.capture_lambda_handler(handler)({"a": 1}, None) == {"event": {"a": 1}}


def _modules_after_a_traced_handler(trace_disabled: str) -> str:
    code = (
        "import sys\nfrom imagestore.observability import tracer\n"
        "@tracer.capture_lambda_handler(capture_response=False)\ndef handler(event, context):\n    return 1\n"
        "print(type(tracer).__name__, 'aws_xray_sdk' in sys.modules)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT / "layer"),
        "POWERTOOLS_TRACE_DISABLED": trace_disabled,
        "AWS_LAMBDA_FUNCTION_NAME": "unit",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_disabled_tracing_never_imports_the_xray_sdk() -> None:
    assert _modules_after_a_traced_handler("true") == "NullTracer False"


def test_enabled_tracing_uses_the_powertools_tracer() -> None:
    assert _modules_after_a_traced_handler("false") == "Tracer True"
