"""S3 event notifications locally: SeaweedFS filer events -> S3 ObjectCreated records -> Lambda, async.

Targets come from the services' own definitions: a function's `s3` events (`bucket`, `event`,
`rules: [{prefix}, {suffix}]`) and the `NotificationConfiguration.LambdaConfigurations` of an
`AWS::S3::Bucket` resource (`Event`, `Filter.S3Key.Rules`). Each target is invoked as S3 invokes it:
asynchronously (lambda_runtime.LambdaRuntime.invoke_async: retries, then the on-failure destination), with
an event shaped as AWS sends it.

The object store's changes are read from `weed filer.meta.tail` (SeaweedFS's metadata subscription,
printed as JSON): a new or rewritten file under /buckets/<bucket>/ is an ObjectCreated event, named after the
request that wrote it (Put, Post, Copy, CompleteMultipartUpload) as the S3 front (s3_front.py) saw it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fnmatch
import json
import logging
import os
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from imagestore_local.config_loader import ACCOUNT_ID, FunctionDef, ServiceConfig
from imagestore_local.lambda_runtime import LambdaRuntime
from imagestore_local.processes import die_with_parent

log = logging.getLogger("imagestore_local.s3_events")

DEFAULT_EVENT = "s3:ObjectCreated:*"


@dataclass(frozen=True)
class S3Target:
    """One function notified of one bucket's events (event-name patterns, key prefix and suffix)."""

    fn: FunctionDef
    bucket: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def matches(self, bucket: str, event_name: str, key: str) -> bool:
        """True when an event `ObjectCreated:Put` on bucket/key is one this target asked for."""
        if bucket != self.bucket or not key.startswith(self.prefix) or not key.endswith(self.suffix):
            return False
        return any(fnmatch.fnmatchcase("s3:" + event_name, pattern) for pattern in self.events)


def _rules(rules: Any) -> tuple[str, str]:
    """(prefix, suffix) of serverless `rules: [{prefix: a}, {suffix: b}]` or CloudFormation
    `Rules: [{Name: prefix, Value: a}]`."""
    prefix = suffix = ""
    for rule in rules or []:
        if not isinstance(rule, dict):
            continue
        name = str(rule.get("Name", "")).lower()
        if name in ("prefix", "suffix"):
            value = str(rule.get("Value", ""))
            prefix, suffix = (value, suffix) if name == "prefix" else (prefix, value)
        prefix = str(rule.get("prefix", prefix))
        suffix = str(rule.get("suffix", suffix))
    return prefix, suffix


def s3_targets(service: ServiceConfig) -> list[S3Target]:
    """Every function of the service notified by S3: its `s3` events and its buckets' LambdaConfigurations."""
    from imagestore_local.cloudformation import Intrinsics

    targets: list[S3Target] = []
    for fn in service.functions.values():
        for event in fn.events:
            if not isinstance(event, dict) or "s3" not in event:
                continue
            spec = event["s3"]
            if isinstance(spec, str):
                spec = {"bucket": spec}
            bucket = spec.get("bucket")
            if isinstance(bucket, dict):  # a reference to a bucket resource of this service
                bucket = Intrinsics(service).evaluate(bucket)
            prefix, suffix = _rules(spec.get("rules"))
            targets.append(S3Target(fn, str(bucket), (str(spec.get("event") or DEFAULT_EVENT),), prefix, suffix))
    intrinsics = Intrinsics(service)
    by_logical = {fn.logical_id: fn for fn in service.functions.values()}
    for logical_id, resource in service.resources.items():
        if resource.get("Type") != "AWS::S3::Bucket":
            continue
        config = (resource.get("Properties") or {}).get("NotificationConfiguration") or {}
        for item in config.get("LambdaConfigurations") or []:
            target = item.get("Function")
            notified: FunctionDef | None = None
            if isinstance(target, dict) and "Fn::GetAtt" in target:
                ref = target["Fn::GetAtt"]
                notified = by_logical.get(ref[0] if isinstance(ref, list) else str(ref).split(".")[0])
            if notified is None:
                log.warning(
                    "bucket %s: notification target %r is not a function of %s; not delivered",
                    logical_id,
                    target,
                    service.key,
                )
                continue
            prefix, suffix = _rules(((item.get("Filter") or {}).get("S3Key") or {}).get("Rules"))
            targets.append(
                S3Target(notified, intrinsics.physical_name(logical_id), (str(item.get("Event")),), prefix, suffix)
            )
    return targets


def object_created_event(
    bucket: str,
    key: str,
    size: int,
    etag: str,
    event_name: str,
    region: str,
    sequencer: str | None = None,
    when: datetime | None = None,
) -> dict[str, Any]:
    """An S3 notification event with one record, as S3 sends it to Lambda (the key URL-encoded)."""
    moment = when or datetime.now(UTC)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
                "eventName": event_name,
                "userIdentity": {"principalId": f"AWS:{ACCOUNT_ID}"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                    "x-amz-id-2": base64.b64encode(os.urandom(48)).decode(),
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "imagestore-local",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": ACCOUNT_ID},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": urllib.parse.quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag,
                        "sequencer": sequencer or f"{time.time_ns():016X}",
                    },
                },
            }
        ]
    }


@dataclass
class S3Notifier:
    """Delivers object-created events to the matching targets."""

    targets: list[S3Target]
    runtime: LambdaRuntime
    region: str
    # S3 delivers a notification and Lambda's async queue starts the function after about a second
    # (IMAGESTORE_LOCAL_S3_EVENT_DELAY_SECONDS); a client's own call right after its upload usually runs first,
    # as in AWS, but not always: code must be correct in either order.
    delay: float = field(default_factory=lambda: float(os.environ.get("IMAGESTORE_LOCAL_S3_EVENT_DELAY_SECONDS", "1")))

    def object_created(
        self, bucket: str, key: str, size: int, etag: str, event_name: str, sequencer: str | None = None
    ) -> list[S3Target]:
        """Send the event to every matching target; returns them."""
        matched = [t for t in self.targets if t.matches(bucket, event_name, key)]
        if matched:
            event = object_created_event(bucket, key, size, etag, event_name, self.region, sequencer)
            for target in matched:
                log.info("s3: %s s3://%s/%s -> %s/%s", event_name, bucket, key, target.fn.service.key, target.fn.key)
                self.runtime.invoke_async(target.fn, event, self.delay, source=f"s3 {event_name} {bucket}/{key}")
        return matched


# --------------------------------------------------------------------------- SeaweedFS filer events


def json_stream(handle: IO[str]) -> Iterator[dict[str, Any]]:
    """Objects of a stream of concatenated (pretty-printed) JSON documents."""
    decoder = json.JSONDecoder()
    buffer = ""
    for line in handle:
        buffer += line
        while True:
            stripped = buffer.lstrip()
            if not stripped:
                buffer = ""
                break
            try:
                value, end = decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                buffer = stripped
                break
            buffer = stripped[end:]
            if isinstance(value, dict):
                yield value


def _chunk_ids(entry: dict[str, Any]) -> list[Any]:
    return [chunk.get("fid") or chunk.get("fileId") for chunk in entry.get("chunks") or []]


def _etag(entry: dict[str, Any]) -> str:
    """The S3 ETag SeaweedFS keeps in the entry (hex, '-N' for multipart), else the MD5 as hex."""
    extended = entry.get("extended") or {}
    with contextlib.suppress(binascii.Error, UnicodeDecodeError, TypeError):
        if extended.get("Seaweed-X-Amz-ETag"):
            return base64.b64decode(extended["Seaweed-X-Amz-ETag"]).decode().strip('"')
    with contextlib.suppress(binascii.Error, TypeError):
        md5 = (entry.get("attributes") or {}).get("md5")
        if md5:
            return base64.b64decode(md5).hex()
    return ""


def created_object(event: dict[str, Any]) -> tuple[str, str, int, str, str] | None:
    """(bucket, key, size, etag, event name) when a filer event creates or rewrites an object, else None."""
    notification = event.get("eventNotification") or {}
    new = notification.get("newEntry")
    if not new or new.get("isDirectory"):
        return None
    directory = str(notification.get("newParentPath") or event.get("directory") or "")
    parts = directory.strip("/").split("/", 2)
    if len(parts) < 2 or parts[0] != "buckets":
        return None
    bucket = parts[1]
    prefix = parts[2] if len(parts) > 2 else ""
    if prefix == ".uploads" or prefix.startswith(".uploads/"):  # multipart parts in progress
        return None
    old = notification.get("oldEntry")
    if (
        old is not None
        and str(event.get("directory") or "") == directory
        and _chunk_ids(old) == _chunk_ids(new)
        and old.get("content") == new.get("content")
    ):
        return None  # metadata only (tags, attributes): S3 sends no ObjectCreated
    key = f"{prefix}/{new['name']}" if prefix else str(new["name"])
    size = int((new.get("attributes") or {}).get("fileSize") or 0)
    extended = new.get("extended") or {}
    name = "ObjectCreated:CompleteMultipartUpload" if "X-Seaweedfs-Upload-Id" in extended else "ObjectCreated:Put"
    return bucket, key, size, _etag(new), name


class FilerEvents:
    """`weed filer.meta.tail` as a child process; each created object goes to the notifier."""

    def __init__(
        self,
        weed: str,
        filer_address: str,
        notifier: S3Notifier,
        log_path: Path,
        operations: Callable[[str, str], str | None] | None = None,
    ) -> None:
        self.operations = operations  # the S3 front's record of which request wrote a key
        self.weed = weed
        self.filer_address = filer_address
        self.notifier = notifier
        self.log_path = log_path
        self.process: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._seen: set[tuple[str, str]] = set()
        self._seen_lock = threading.Condition()

    def start(self, probe: Callable[[], tuple[str, str]] | None = None, timeout: float = 20.0) -> None:
        """Start tailing; with probe (writes an object, returns its bucket and key), wait until its
        event arrives, so that no object written after start() returns is missed."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as errors:
            self.process = subprocess.Popen(
                [self.weed, "filer.meta.tail", f"-filer={self.filer_address}", "-pathPrefix=/buckets/", "-timeAgo=2s"],
                stdout=subprocess.PIPE,
                stderr=errors,
                stdin=subprocess.DEVNULL,
                text=True,
                preexec_fn=die_with_parent,
            )
        self._thread = threading.Thread(target=self._read, name="s3-events", daemon=True)
        self._thread.start()
        if probe is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wanted = probe()
            with self._seen_lock:
                if self._seen_lock.wait_for(lambda wanted=wanted: wanted in self._seen, timeout=2.0):  # type: ignore[misc]
                    log.debug("s3 events: subscribed to the filer at %s", self.filer_address)
                    return
            if not self.alive():
                break
        raise RuntimeError(f"the SeaweedFS filer's events did not arrive; see {self.log_path}")

    def alive(self) -> bool:
        """True while the tail runs."""
        return self.process is not None and self.process.poll() is None

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for event in json_stream(self.process.stdout):
            try:
                created = created_object(event)
                if created is None:
                    continue
                bucket, key, size, etag, name = created
                if self.operations is not None:
                    name = self.operations(bucket, key) or name
                with self._seen_lock:
                    self._seen.add((bucket, key))
                    if len(self._seen) > 10_000:
                        self._seen.clear()
                    self._seen_lock.notify_all()
                self.notifier.object_created(bucket, key, size, etag, name, f"{int(event.get('tsNs') or 0):016X}")
            except Exception:  # one malformed event must not stop the delivery of the others
                log.exception("s3 events: cannot handle a filer event")
        if self.process.poll() not in (None, 0, -15):
            log.error("s3 events: weed filer.meta.tail exited with %s; see %s", self.process.returncode, self.log_path)

    def stop(self) -> None:
        """Stop the tail."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 15)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
        if self._thread is not None:
            self._thread.join(timeout=5)
