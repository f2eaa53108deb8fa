"""Child processes of the local stack: free ports, process groups that die with the stack, HTTP readiness."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

log = logging.getLogger("imagestore_local.backends")


def free_port(preferred: int | None = None) -> int:
    """`preferred` when it is free on 127.0.0.1, else any free port."""
    if preferred:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                sock.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when this process dies (Linux), and leads its own group."""
    os.setsid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class ChildProcess:
    """An emulator subprocess in its own process group."""

    name: str
    args: list[str]
    log_path: Path
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    # Seconds between SIGTERM and SIGKILL; a child known to linger (SeaweedFS's filer waits 15 s for its
    # own S3 gateway's subscription to end) is given less, with an info message instead of a warning.
    stop_grace: float = 10.0
    lingers: bool = False
    env: dict[str, str] | None = None  # added to this process's environment

    def start(self) -> None:
        """Start the process, its output going to log_path."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.log_path.open("ab")
        log.debug("starting %s: %s", self.name, " ".join(self.args))
        self.process = subprocess.Popen(
            self.args,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd,
            env={**os.environ, **self.env} if self.env else None,
            preexec_fn=die_with_parent,
        )
        handle.close()

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM the process group, then SIGKILL what is left."""
        if self.process is None:
            return
        pid = self.process.pid
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_grace if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                (log.info if self.lingers else log.warning)("%s did not stop on SIGTERM; killing it", self.name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # stragglers of the group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.process = None


def wait_http(url: str, timeout: float, child: ChildProcess | None = None) -> None:
    """Wait until url answers anything over HTTP."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited early; see {child.log_path}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")
