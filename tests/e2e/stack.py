"""Runs `imagestore-local run` as a subprocess for end-to-end tests (isolated data folder, free port)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "e2e-secret-of-at-least-32-bytes-long!!"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).with_name("imagestore-local")
    if script.exists():
        return [str(script), "run"]
    return [sys.executable, "-m", "imagestore_local.cli", "run"]


@dataclass
class StackHandle:
    """A running local stack: its URL, a token minter and stop()."""

    base_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def mint_token(
        self, tenant: str, user: str, session: str | None = None, scope: str | None = None, ttl: int = 3600
    ) -> str:
        """An HS256 JWT the stack's authorizer accepts."""
        from imagestore_local.cli import mint_token

        return mint_token(tenant, user, session=session, scope=scope, ttl=ttl, secret=self.env["IMAGESTORE_JWT_SECRET"])

    def s3_client(self) -> Any:
        """A boto3 client of the stack's own S3 (SeaweedFS), with the credentials the stack gives it."""
        import boto3
        from botocore.config import Config

        health = requests.get(f"{self.base_url}/_local/health", timeout=10).json()
        return boto3.client(
            "s3",
            endpoint_url=health["endpoints"]["s3"],
            region_name=health["region"],
            aws_access_key_id="test",
            aws_secret_access_key="test",
            aws_session_token=None,
            config=Config(signature_version="s3v4"),
        )

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the stack's process group (emulators included), SIGKILL what is left."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 60) -> str:
        """The end of the stack's output (for failure messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@contextlib.contextmanager
def running_stack(
    data_dir: Path, port: int | None = None, extra_env: dict[str, str] | None = None, timeout: float = 90.0
) -> Iterator[StackHandle]:
    """Start the local stack on a free port with data in data_dir; wait for /_local/health; stop on exit."""
    port = port or _free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PORT": str(port),
        "IMAGESTORE_LOCAL_DATA": str(data_dir),
        "IMAGESTORE_JWT_SECRET": JWT_SECRET,
        "IMAGESTORE_JWT_ISSUER": "imagestore-local",
        "IMAGESTORE_JWT_AUDIENCE": "imagestore",
        "IMAGESTORE_ROOT": str(ROOT),
        # Emulator ports next to the API port are often taken in parallel runs: pick free ones.
        "IMAGESTORE_LOCAL_S3_PORT": str(_free_port()),
        "IMAGESTORE_LOCAL_DYNAMODB_PORT": str(_free_port()),
        "PYTHONUNBUFFERED": "1",
        # Functions are killed at their timeout; on a busy 2-core CI machine running stacks in parallel a first
        # invocation can take several times what it takes in Lambda.
        "IMAGESTORE_LOCAL_TIMEOUT_SCALE": "3",
        **(extra_env or {}),
    }
    for name in [n for n in env if n.startswith("AWS_ENDPOINT_URL") or n == "IMAGESTORE_PUBLIC_BASE_URL"]:
        if not (extra_env and name in extra_env):
            del env[name]
    log_path = data_dir / "stack.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [*_command(), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    handle = StackHandle(
        base_url=f"http://127.0.0.1:{port}", data_dir=data_dir, process=process, log_path=log_path, env=env
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {process.returncode}:\n{handle.log_tail()}")
            try:
                if requests.get(f"{handle.base_url}/_local/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not become healthy in {timeout} s:\n{handle.log_tail()}")
            time.sleep(0.2)
        yield handle
    finally:
        handle.stop()
