"""DynamoDB TTL and the TTL records of the table's stream, emulated for the local stack.

Neither emulator deletes expired items (DynamoDB Local and moto ignore TimeToLiveSpecification), and
the local stack reads no stream. TtlReaper does what DynamoDB's TTL process and Lambda's stream event
source do for this project's functions: it deletes every item whose TTL attribute is in the past
(conditionally: an item whose TTL moved on in between stays), and sends the REMOVE records, marked as
TTL's (userIdentity Service / dynamodb.amazonaws.com), to each function with a `stream` event on that
table whose filterPatterns match, batchSize records at a time. AWS deletes within days of expiry; here
within a period: IMAGESTORE_LOCAL_TTL_SECONDS (default 300) divided by IMAGESTORE_LOCAL_SCHEDULE_SCALE.
`imagestore-local ttl` (POST /_local/ttl) runs it at once.

Finding the expired items takes a Scan: it stands for DynamoDB's own background process, not for a
request path of the services.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from imagestore_local.clock import now_epoch
from imagestore_local.config_loader import FunctionDef
from imagestore_local.lambda_runtime import HandlerImportError
from imagestore_local.scheduler import pattern_matches, schedule_scale

log = logging.getLogger("imagestore_local.ttl")

TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
DEFAULT_PERIOD = 300.0
_TABLE_OF_STREAM = re.compile(r"^arn:aws[\w-]*:dynamodb:[^:]*:[^:]*:table/([^/]+)/stream/")

Invoke = Callable[[FunctionDef, Any], Any]


@dataclass(frozen=True)
class TtlTable:
    """A table with TTL enabled (its TimeToLiveSpecification), and what its stream records carry."""

    name: str
    attribute: str
    key_names: tuple[str, ...]
    stream_view: str | None  # StreamViewType, None without a stream


@dataclass(frozen=True)
class StreamTarget:
    """A function's `stream` event on a DynamoDB table."""

    fn: FunctionDef
    table: str
    arn: str
    batch_size: int
    patterns: tuple[dict[str, Any], ...]

    def wants(self, record: dict[str, Any]) -> bool:
        """Lambda event filtering: no pattern takes every record, else any pattern that matches."""
        return not self.patterns or any(pattern_matches(p, record) for p in self.patterns)


def ttl_table(name: str, properties: dict[str, Any]) -> TtlTable | None:
    """The TTL settings of an AWS::DynamoDB::Table's properties (None when TTL is off)."""
    spec = properties.get("TimeToLiveSpecification") or {}
    if not spec.get("Enabled") or not spec.get("AttributeName"):
        return None
    keys = tuple(str(k["AttributeName"]) for k in properties.get("KeySchema") or [])
    view = (properties.get("StreamSpecification") or {}).get("StreamViewType")
    return TtlTable(name=name, attribute=str(spec["AttributeName"]), key_names=keys, stream_view=view)


def stream_targets(fn: FunctionDef) -> list[StreamTarget]:
    """The enabled DynamoDB `stream` events of a function (an ARN the stack cannot resolve is logged)."""
    out: list[StreamTarget] = []
    for event in fn.events:
        if not isinstance(event, dict) or "stream" not in event:
            continue
        spec = event["stream"]
        spec = {"arn": spec} if isinstance(spec, str) else dict(spec or {})
        if spec.get("enabled") is False or spec.get("type", "dynamodb") != "dynamodb":
            continue
        arn = spec.get("arn")
        match = _TABLE_OF_STREAM.match(arn) if isinstance(arn, str) else None
        if match is None:
            log.warning("%s/%s: stream %r is not a table stream the local stack knows", fn.service.key, fn.key, arn)
            continue
        patterns = tuple(p for p in spec.get("filterPatterns") or [] if isinstance(p, dict))
        out.append(
            StreamTarget(
                fn=fn,
                table=match.group(1),
                arn=str(arn),
                batch_size=max(1, int(spec.get("batchSize") or 100)),
                patterns=patterns,
            )
        )
    return out


def removal_record(table: TtlTable, old_item: dict[str, Any], arn: str, region: str, now: float) -> dict[str, Any]:
    """The stream record of an item TTL deleted, as Lambda hands it over (DynamoDB JSON images)."""
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": int(now),
        "Keys": {k: old_item[k] for k in table.key_names if k in old_item},
        "SequenceNumber": str(time.time_ns()),
        "SizeBytes": len(repr(old_item)),
        "StreamViewType": table.stream_view,
    }
    if table.stream_view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        change["OldImage"] = old_item
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": change,
        "eventSourceARN": arn,
        "userIdentity": dict(TTL_IDENTITY),
    }


@dataclass
class TtlReaper:
    """Deletes expired items and delivers their TTL records (see the module doc)."""

    dynamodb: Any
    tables: list[TtlTable]
    targets: list[StreamTarget]
    invoke: Invoke
    region: str
    now: Callable[[], float] = now_epoch
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def run_once(self) -> dict[str, Any]:
        """One pass over every TTL table; what was deleted and what each function answered."""
        with self._lock:  # the schedule and `imagestore-local ttl` never interleave
            now = self.now()
            report: dict[str, Any] = {"deleted": {}, "invocations": []}
            for table in self.tables:
                old_items = list(self._delete_expired(table, now))
                report["deleted"][table.name] = len(old_items)
                for target in (t for t in self.targets if t.table == table.name):
                    records = [removal_record(table, item, target.arn, self.region, now) for item in old_items]
                    wanted = [r for r in records if target.wants(r)]
                    for start in range(0, len(wanted), target.batch_size):
                        batch = wanted[start : start + target.batch_size]
                        report["invocations"].append(self._deliver(target, batch))
            return report

    def _delete_expired(self, table: TtlTable, now: float) -> Iterator[dict[str, Any]]:
        names = {"#ttl": table.attribute}
        values = {":now": {"N": str(int(now))}}
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=table.name,
            FilterExpression="#ttl < :now",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        for page in pages:
            for item in page.get("Items", []):
                key = {k: item[k] for k in table.key_names}
                try:
                    old = self.dynamodb.delete_item(
                        TableName=table.name,
                        Key=key,
                        ConditionExpression="#ttl < :now",
                        ExpressionAttributeNames=names,
                        ExpressionAttributeValues=values,
                        ReturnValues="ALL_OLD",
                    )
                except self.dynamodb.exceptions.ConditionalCheckFailedException:
                    continue  # its TTL moved on (or it is gone) since the scan read it
                if old.get("Attributes"):
                    yield old["Attributes"]

    def _deliver(self, target: StreamTarget, records: list[dict[str, Any]]) -> dict[str, Any]:
        name = f"{target.fn.service.key}/{target.fn.key}"
        try:
            result = self.invoke(target.fn, {"Records": records})
        except HandlerImportError:
            return {"function": name, "records": len(records), "error": "the handler could not be imported"}
        except Exception as exc:  # AWS would retry the batch; the items are gone either way
            log.exception("ttl: %s failed on %d records", name, len(records))
            return {"function": name, "records": len(records), "error": f"{type(exc).__name__}: {exc}"}
        return {"function": name, "records": len(records), "result": result}

    # ---- the periodic pass

    def start(self) -> None:
        """Run a pass every period in a daemon thread."""
        period = float(os.environ.get("IMAGESTORE_LOCAL_TTL_SECONDS") or DEFAULT_PERIOD) / schedule_scale()
        log.info(
            "ttl: tables %s -> deleted when expired, every %.1f s; stream targets %s",
            [t.name for t in self.tables],
            period,
            [f"{t.fn.service.key}/{t.fn.key}" for t in self.targets],
        )
        self._thread = threading.Thread(target=self._run, args=(period,), name="ttl", daemon=True)
        self._thread.start()

    def _run(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                report = self.run_once()
            except Exception:
                log.exception("ttl: pass failed")
                continue
            if any(report["deleted"].values()):
                log.info("ttl: deleted %s; delivered %s", report["deleted"], report["invocations"])

    def stop(self) -> None:
        """Stop the thread (a pass in progress finishes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
