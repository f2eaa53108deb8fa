"""The table's stream read by the functions' DynamoDB `stream` events, as Lambda's event source mapping does,
for the records of items written (INSERT, MODIFY): the webhook outbox (webhookRelay) relies on it.

The emulator's own stream is read (DynamoDB Local and moto both keep one for a table with a
StreamSpecification): DescribeStream for the shards, GetShardIterator (LATEST for the shards open when the
stack starts, as startingPosition LATEST; TRIM_HORIZON for shards opened later), GetRecords every
IMAGESTORE_LOCAL_STREAM_POLL_SECONDS (default 0.5). Each record goes to every stream target of its table
whose filterPatterns match, batchSize records at a time, in order per shard. A batch whose invocation fails
(the handler raised, timed out or its worker died) is retried after a short backoff, bisected when
bisectBatchOnFunctionError is set, up to maximumRetryAttempts; then its range goes to the on-failure
destination (a local queue: a message like Lambda's) and the shard moves on.

REMOVE records are left to imagestore_local.ttl.TtlReaper, which delivers TTL's removals marked as TTL's
(the emulators' own REMOVE records carry no userIdentity); the application's own deletes are not delivered.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imagestore_local.config_loader import FunctionDef
from imagestore_local.ttl import StreamTarget

log = logging.getLogger("imagestore_local.streams")

Invoke = Callable[[FunctionDef, Any], Any]
DELIVERED = ("INSERT", "MODIFY")
MAX_LOCAL_RETRIES = 20  # a local stack does not retry for a day: a batch failing this often goes on


def lambda_record(raw: dict[str, Any], arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda hands it to a function: JSON numbers for times, the source ARN."""
    record = dict(raw)
    change = dict(record.get("dynamodb") or {})
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    record["dynamodb"] = change
    record["eventSourceARN"] = arn
    return record


@dataclass
class _Target:
    spec: StreamTarget
    retries: int
    bisect: bool
    on_failure: Any  # the onFailure destination's arn as the template has it (a queue's GetAtt)


def target_settings(target: StreamTarget) -> _Target:
    """A stream event's retry settings (maximumRetryAttempts, bisectBatchOnFunctionError, onFailure)."""
    for event in target.fn.events:
        spec = event.get("stream") if isinstance(event, dict) else None
        if not isinstance(spec, dict):
            continue
        destination = ((spec.get("destinations") or {}).get("onFailure") or {}).get("arn")
        return _Target(
            spec=target,
            retries=int(spec.get("maximumRetryAttempts", -1)),
            bisect=bool(spec.get("bisectBatchOnFunctionError")),
            on_failure=destination,
        )
    return _Target(spec=target, retries=-1, bisect=False, on_failure=None)


@dataclass
class StreamPoller:
    """Reads each table's stream and invokes its targets (see the module doc)."""

    dynamodb: Any
    streams: Any
    targets: list[StreamTarget]
    invoke: Invoke
    send_to_queue: Callable[[FunctionDef, Any, str], bool] | None = None  # (fn, destination, body) -> sent
    sleep: Callable[[float], None] = time.sleep
    _iterators: dict[tuple[str, str], str | None] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    delivered: int = 0
    failed_batches: int = 0

    def _stream_arn(self, table: str) -> str | None:
        return self.dynamodb.describe_table(TableName=table)["Table"].get("LatestStreamArn")

    def _shards(self, arn: str) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            start = description.get("LastEvaluatedShardId")
            if not start:
                return shards

    def prime(self) -> None:
        """Start at the end of every open shard (startingPosition LATEST)."""
        for table in {t.table for t in self.targets}:
            arn = self._stream_arn(table)
            if arn is None:
                log.warning("table %s has no stream: its stream functions get nothing", table)
                continue
            for shard in self._shards(arn):
                if "EndingSequenceNumber" in shard.get("SequenceNumberRange", {}):
                    self._iterators[(arn, shard["ShardId"])] = None  # closed before we came
                    continue
                self._iterators[(arn, shard["ShardId"])] = self.streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
                )["ShardIterator"]

    def poll_once(self) -> int:
        """One pass over every shard of every stream; how many records were handed to functions."""
        handed = 0
        for table in {t.table for t in self.targets}:
            arn = self._stream_arn(table)
            if arn is None:
                continue
            for shard in self._shards(arn):
                key = (arn, shard["ShardId"])
                if key not in self._iterators:  # opened since the last pass: from its start
                    self._iterators[key] = self.streams.get_shard_iterator(
                        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                    )["ShardIterator"]
                handed += self._read_shard(table, arn, key)
        return handed

    def _read_shard(self, table: str, arn: str, key: tuple[str, str]) -> int:
        handed = 0
        for _ in range(100):  # bounded: what the shard has now
            iterator = self._iterators.get(key)
            if iterator is None:
                return handed
            answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            self._iterators[key] = answer.get("NextShardIterator")
            records = [lambda_record(r, arn) for r in answer.get("Records", []) if r.get("eventName") in DELIVERED]
            for target in (t for t in self.targets if t.table == table):
                wanted = [r for r in records if target.wants(r)]
                settings = target_settings(target)
                for start in range(0, len(wanted), target.batch_size):
                    self._deliver(settings, wanted[start : start + target.batch_size])
                    handed += len(wanted[start : start + target.batch_size])
            if not answer.get("Records"):
                return handed
        return handed

    def _deliver(self, target: _Target, batch: list[dict[str, Any]]) -> None:
        """Invoke until it succeeds; bisected on failure when the event asks for it; then on-failure."""
        retries = MAX_LOCAL_RETRIES if target.retries < 0 else min(target.retries, MAX_LOCAL_RETRIES)
        pending = [batch]
        attempts = 0
        while pending and not self._stop.is_set():
            part = pending.pop(0)
            try:
                self.invoke(target.spec.fn, {"Records": part})
                self.delivered += len(part)
                continue
            except Exception as exc:  # the handler raised, timed out or its worker died
                attempts += 1
                name = f"{target.spec.fn.service.key}/{target.spec.fn.key}"
                log.warning("stream: %s failed on %d records (attempt %d): %s", name, len(part), attempts, exc)
                if attempts <= retries:
                    self.sleep(min(0.2 * 2 ** min(attempts, 6), 5.0))
                    if target.bisect and len(part) > 1:
                        middle = len(part) // 2
                        pending[:0] = [part[:middle], part[middle:]]
                    else:
                        pending.insert(0, part)
                    continue
                self._failed(target, part, str(exc))

    def _failed(self, target: _Target, part: list[dict[str, Any]], error: str) -> None:
        self.failed_batches += 1
        change = [r.get("dynamodb", {}) for r in part]
        body = json.dumps(
            {
                "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": target.spec.fn.arn},
                "responseContext": {"functionError": error[:500]},
                "DDBStreamBatchInfo": {
                    "streamArn": part[0].get("eventSourceARN"),
                    "batchSize": len(part),
                    "startSequenceNumber": change[0].get("SequenceNumber"),
                    "endSequenceNumber": change[-1].get("SequenceNumber"),
                },
            },
            default=str,
        )
        sent = bool(
            target.on_failure and self.send_to_queue and self.send_to_queue(target.spec.fn, target.on_failure, body)
        )
        log.error("stream: %d records given up%s", len(part), " (sent to the on-failure queue)" if sent else "")

    # ---- the thread

    def start(self) -> None:
        if not self.targets:
            return
        period = float(os.environ.get("IMAGESTORE_LOCAL_STREAM_POLL_SECONDS") or 0.5)
        try:
            self.prime()
        except Exception:
            log.exception("stream: cannot read the tables' streams; stream functions get no INSERT/MODIFY")
            return
        log.info("streams: %s (every %.2f s)", [f"{t.fn.service.key}/{t.fn.key}" for t in self.targets], period)
        self._thread = threading.Thread(target=self._run, args=(period,), name="streams", daemon=True)
        self._thread.start()

    def _run(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                self.poll_once()
            except Exception:
                log.exception("stream: pass failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
