"""docs/walkthrough.sh (the README's curl walk-through as a script) against a local stack of its own:
it runs to its end, every id taken from an answer; and `make` targets that talk to the stack say so
when none answers."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT, StackHandle

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (shutil.which("jq") and shutil.which("curl")), reason="needs curl and jq"),
]


@pytest.fixture(scope="module")
def stack(shared_stack: StackHandle) -> Iterator[StackHandle]:
    """The worker's shared stack (tests/local/conftest.py): the walk-through's users are its own."""
    yield shared_stack


def walk(api: str, secret: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "API": api,
        "IMAGESTORE_JWT_SECRET": secret,
        "PYTHON": sys.executable,
        "IMAGESTORE_LOCAL": str(Path(sys.executable).with_name("imagestore-local")),
    }
    return subprocess.run(
        ["bash", str(ROOT / "docs" / "walkthrough.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_walkthrough_runs_to_its_end(stack: StackHandle) -> None:
    result = walk(stack.base_url, stack.env["IMAGESTORE_JWT_SECRET"])

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert out.rstrip().endswith("walkthrough: done")
    assert "same bytes" in out
    for name in ("fileId", "projectId", "cartItemId", "orderId"):
        assert re.search(rf"^{name} [0-9a-z]{{26}}\b", out, re.M), name
    assert re.search(r'^ETag "1"$', out, re.M)
    assert '"code":"not_found","requestId":"' in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_without_a_stack_the_script_and_make_say_so() -> None:
    port = _free_port()
    result = walk(f"http://127.0.0.1:{port}", "unused-secret-of-at-least-32-bytes!!")
    assert result.returncode == 2 and "no local stack answers" in result.stderr
    for target in ("logout", "walkthrough"):
        made = subprocess.run(
            ["make", "--no-print-directory", target, f"PORT={port}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert made.returncode != 0 and f"no local stack answers on http://127.0.0.1:{port}" in made.stderr, target
        assert "Traceback" not in made.stderr
