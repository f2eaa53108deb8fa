"""`make loadtest`: the Locust suite headless against the local stack, for a bounded time.

Uses the stack on http://127.0.0.1:3000 when one answers /_local/health (its JWT secret: $IMAGESTORE_JWT_SECRET
or the local default); otherwise starts one on a free port with a throw-away data folder and stops it after.
Reports go to reports/loadtest-<timestamp>/ (git-ignored); the exit code is Locust's, i.e. the verdict.
Thresholds are fitted to the local stack (one machine, emulated backends), not to a stage.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from loadtest.identity import LOCAL_SECRET

ROOT = Path(__file__).resolve().parents[1]
MAX_DURATION_S = 120
# Fitted to the local stack on a 2-core machine: ~50-70 API requests/s with 30 users, p95 under 1 s.
LOCAL_THRESHOLDS = {"--max-failure-ratio": "1%", "--p95": "2500", "--min-rps": "15"}


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/_local/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def local_stack(url: str) -> Iterator[tuple[str, str, Path | None]]:
    """(base URL, JWT secret, log of a stack started here or None) of a running local stack."""
    if _healthy(url):
        print(f"using the local stack already running on {url}")
        yield url, os.environ.get("IMAGESTORE_JWT_SECRET") or LOCAL_SECRET, None
        return
    from tests.e2e.stack import running_stack

    secret = secrets.token_urlsafe(32)
    data_dir = Path(tempfile.mkdtemp(prefix="imagestore-loadtest-"))
    print(f"no stack on {url}: starting one (data in {data_dir}) ...", flush=True)
    started = time.monotonic()
    try:
        with running_stack(
            data_dir, extra_env={"IMAGESTORE_JWT_SECRET": secret, "IMAGESTORE_LOCAL_ACCESS_LOG": "0"}
        ) as stack:
            print(f"stack up on {stack.base_url} in {time.monotonic() - started:.1f} s", flush=True)
            yield stack.base_url, secret, stack.log_path
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def locust_command(host: str, report_dir: Path, args: argparse.Namespace, extra: list[str]) -> list[str]:
    thresholds = [item for pair in LOCAL_THRESHOLDS.items() for item in pair]
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "loadtest" / "locustfile.py"),
        "--headless",
        "--host",
        host,
        "--users",
        str(args.users),
        "--run-time",
        f"{args.duration}s",
        "--shape",
        "steady",
        "--ramp",
        str(min(10, args.duration // 4)),
        "--hold",
        str(args.duration),
        *(["--processes", str(args.processes)] if args.processes > 1 else []),
        "--image-sizes",
        "320x240,800x600",
        "--csv",
        str(report_dir / "loadtest"),
        "--csv-full-history",
        "--html",
        str(report_dir / "report.html"),
        "--only-summary",
        "--stop-timeout",
        "5",
        *thresholds,
        *extra,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '3000')}", help="where to look for a running stack"
    )
    parser.add_argument("--duration", type=int, default=60, help=f"seconds of load (at most {MAX_DURATION_S})")
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="Locust processes (default 1: on a 2-core machine that also runs the stack, distributing buys nothing, "
        "and workers starved of CPU miss their heartbeats and are dropped; >1: locust --processes N)",
    )
    args, extra = parser.parse_known_args(argv)
    if not 5 <= args.duration <= MAX_DURATION_S:
        parser.error(f"--duration must be between 5 and {MAX_DURATION_S} seconds")
    report_dir = ROOT / "reports" / f"loadtest-{time.strftime('%Y%m%d-%H%M%S')}"
    report_dir.mkdir(parents=True, exist_ok=True)
    with local_stack(args.url.rstrip("/")) as (host, secret, stack_log):
        command = locust_command(host, report_dir, args, extra)
        print("$ " + " ".join(command), flush=True)
        env = {**os.environ, "IMAGESTORE_JWT_SECRET": secret, "PYTHONPATH": str(ROOT)}
        try:
            code = subprocess.run(command, cwd=ROOT, env=env, timeout=args.duration + 90, check=False).returncode
        except subprocess.TimeoutExpired:
            print("locust did not finish in time", file=sys.stderr)
            code = 3
        if stack_log is not None and stack_log.exists():
            shutil.copy(stack_log, report_dir / "stack.log")
    print(f"\nreports: {report_dir.relative_to(ROOT)}/ (report.html, loadtest_stats*.csv, loadtest_verdict.txt)")
    print(f"loadtest {'PASSED' if code == 0 else 'FAILED'} (exit code {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
