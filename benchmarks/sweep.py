"""Images deleted per second by the sweep (`make bench-sweep`): one request per image against batched,
and the batched sweep with 1, 4 and 16 workers, for 10,000 and 100,000 expired uploads.

Seeds --images expired, unheld files (item + object) into moto (in this process by default, seeded
straight into its backends; --emulators starts the local stack's DynamoDB Local and SeaweedFS for the run;
--local-stack URL uses a running stack's; --endpoint any other), then deletes them, every mode on the same
backlog (seeded again when half of it is gone):
  one request per image: for every due entry GetItem, the conditional mark, DeleteObject, DeleteItem;
  batched, W workers:    the scheduler's sweep as its fan-out runs it: W runs at once, run g over the
                         expiry shards whose number % W == g (Query per shard, BatchGetItem, one
                         conditional mark per image 8 in flight, DeleteObjects of 1,000 keys, BatchWriteItem
                         of 25), each run again while its shards have due entries (a group's next run).
Every mode stops after --seconds (bounded time: 100,000 images one request at a time would take long);
the figure is images removed / wall seconds, and the count says how many of the images it reached.

In AWS each request waits on the network (--latency-ms, added before each request: 0 by default); the
emulators answer from this machine's CPU, which the workers share (two cores here), so the figures measure
how far the sweep's own work scales on this machine, not AWS's rate (that is benchmarks.capacity's
sweep.delete row, from counted requests and AWS quotas). moto answers a Query on an index by reading
every item of the table: with 100,000 items each Query costs what the whole table does, and a run over
many shards (1 worker: 32 Queries a run) pays it per shard, which DynamoDB does not.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3

from imagestore.config import TenantSettings
from imagestore.data.expiry import ExpiryStore
from imagestore.data.holders import HolderStore
from imagestore.data.holds import HoldStore
from imagestore.data.storage import ImageBucket
from imagestore.data.table import Table
from imagestore.models.files import FileRecord, FileStatus
from tests.support.cfn import create_table

SHARDS = 32
REGION = "eu-west-1"
SEED_THREADS = 8


def clients(dynamodb_endpoint: str | None, s3_endpoint: str | None, latency_ms: float) -> tuple[Any, Any]:
    from botocore.config import Config

    # Credentials from the environment: the emulators' (imagestore_local.backends), else "bench".
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    session = boto3.session.Session(region_name=REGION)
    config = Config(max_pool_connections=64, retries={"mode": "adaptive", "max_attempts": 5})
    ddb = session.client("dynamodb", endpoint_url=dynamodb_endpoint, config=config)
    s3 = session.client("s3", endpoint_url=s3_endpoint, config=config)
    if latency_ms:
        for client in (ddb, s3):
            client.meta.events.register("before-send.*.*", lambda **_: time.sleep(latency_ms / 1000))
    return ddb, s3


def local_stack_endpoints(url: str) -> tuple[str, str]:
    """(DynamoDB, S3) endpoints of a running local stack."""
    import requests

    health = requests.get(f"{url.rstrip('/')}/_local/health", timeout=5).json()
    return health["endpoints"]["dynamodb"], health["endpoints"]["s3"]


def seed(ddb: Any, s3: Any, images: int, now: int, *, in_process: bool, objects_max: int) -> tuple[Table, ImageBucket]:
    """A fresh table and bucket with `images` files whose retention ended an hour ago; the first
    objects_max of them with their object in the bucket (the others' DeleteObjects keys name no object,
    which S3 answers as deleted, at the same request cost)."""
    name = f"bench-sweep-{uuid.uuid4().hex[:8]}"
    create_table(ddb, name)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    table, bucket = Table(ddb, name), ImageBucket(s3, name)
    records = [
        FileRecord(
            tenant_id="bench",
            user_id=f"u{n % 50}",
            file_id=uuid.uuid4().hex,
            session_id="s",
            filename="a.jpg",
            content_type="image/jpeg",
            size_bytes=4,
            status=FileStatus.AVAILABLE,
            created_at=now - 7 * 3600,
            expires_at=now - 3600,
        )
        for n in range(images)
    ]
    if in_process:  # straight into moto's backends: seeding is not measured, and 100,000 puts through
        # the API would take minutes here
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends
        from moto.s3.models import s3_backends

        from imagestore.data.table import serialize

        tables, buckets = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION], s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for record in records:
            tables.put_item(name, serialize(record.to_item(SHARDS)))
            buckets.put_object(name, record.object_key, b"\xff\xd8\xff\xe0")
        return table, bucket
    chunks = [records[i : i + 500] for i in range(0, len(records), 500)]

    def write(chunk: list[FileRecord]) -> None:
        table.batch_write(puts=[r.to_item(SHARDS) for r in chunk])

    def put(record: FileRecord) -> None:
        s3.put_object(Bucket=name, Key=record.object_key, Body=b"\xff\xd8\xff\xe0")

    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(write, chunks))
        list(pool.map(put, records[:objects_max]))
    return table, bucket


def batched(workers: int, run_entries: int) -> Callable[[Table, ImageBucket, int, float], int]:
    """The sweep as its fan-out runs it: `workers` groups at once, each run again while work is left.
    A run takes at most run_entries due entries (in Lambda: 50,000 and the time left), so that a mode
    stops within about one run of its time."""
    from scheduler_service.logic.sweep import Budget, SweepContext, run_shards, sweep

    def run(table: Table, bucket: ImageBucket, now: int, deadline: float) -> int:
        expiry = ExpiryStore(table, bucket, SHARDS)
        ctx = SweepContext(
            expiry=expiry,
            holders=HolderStore(table, HoldStore(table, SHARDS), bucket),
            tenant=lambda _: TenantSettings(),
            shards=SHARDS,
        )

        def group(g: int) -> int:
            removed = 0
            shards = run_shards(SHARDS, g, workers, now)
            while time.monotonic() < deadline:  # one run, then the group's next while entries are due
                budget = Budget(
                    max_entries=run_entries,
                    remaining_ms=lambda: int((deadline - time.monotonic()) * 1000),
                    reserve_ms=0,
                )
                report = sweep(ctx, now, budget, shards)
                removed += report.files_removed
                if report.complete:
                    break
            return removed

        with ThreadPoolExecutor(workers) as pool:
            return sum(pool.map(group, range(workers)))

    return run


def one_by_one(table: Table, bucket: ImageBucket, now: int, deadline: float) -> int:
    expiry = ExpiryStore(table, bucket, SHARDS)
    removed = 0
    for shard in range(SHARDS):
        start = None
        while True:
            entries, start = expiry.due(shard, now, limit=500, start=start)
            for entry in entries:
                if time.monotonic() >= deadline:
                    return removed
                item = table.get(entry.key)
                if item is None:
                    continue
                record = FileRecord.from_item(item)
                if expiry.mark_expired(record, now):
                    bucket.client.delete_object(Bucket=bucket.name, Key=record.object_key)
                    table.delete(record.key)
                    removed += 1
            if start is None:
                break
    return removed


@contextmanager
def backend(args: argparse.Namespace) -> Iterator[tuple[str | None, str | None, str]]:
    """(DynamoDB endpoint, S3 endpoint, label): the local stack's, --endpoint, or moto in this process."""
    if args.local_stack:
        ddb, s3 = local_stack_endpoints(args.local_stack)
        yield ddb, s3, f"local stack (DynamoDB {ddb}, S3 {s3})"
    elif args.endpoint:
        yield args.endpoint, args.endpoint, args.endpoint
    elif args.emulators:
        import tempfile
        from pathlib import Path

        from imagestore_local.backends import Backends

        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as data:
            backends = Backends(root=Path(__file__).resolve().parents[1], data_dir=Path(data), region=REGION)
            try:
                backends.start()
                yield (
                    backends.dynamodb_endpoint,
                    backends.s3_endpoint,
                    f"the local stack's emulators started here (DynamoDB: {backends.dynamodb_kind}, "
                    f"S3: {backends.s3_kind})",
                )
            finally:
                backends.stop()
    else:
        from moto import mock_aws

        with mock_aws():
            yield None, None, "moto in this process"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default="10000,100000", help="expired uploads, comma-separated")
    parser.add_argument("--workers", default="1,4,16", help="concurrent sweep runs, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0, help="each mode stops after this long")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added before every AWS request")
    parser.add_argument(
        "--run-entries", type=int, default=200, help="due entries one run takes (then the group's next run starts)"
    )
    parser.add_argument(
        "--objects-max",
        type=int,
        default=10_000,
        help="images seeded with their object (the rest: item only; seeding is slow)",
    )
    parser.add_argument("--endpoint", default=None, help="DynamoDB+S3 endpoint (default: moto in this process)")
    parser.add_argument(
        "--emulators",
        action="store_true",
        help="start the local stack's emulators (DynamoDB Local, SeaweedFS) for the run",
    )
    parser.add_argument(
        "--local-stack",
        default=None,
        metavar="URL",
        help="use the emulators of the local stack at URL (e.g. http://127.0.0.1:3000)",
    )
    args = parser.parse_args()
    sizes = [int(n) for n in args.images.split(",") if n.strip()]
    worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    modes: list[tuple[str, Callable[[Table, ImageBucket, int, float], int]]] = [("one request per image", one_by_one)]
    modes += [(f"batched, {w} worker{'s' if w > 1 else ''}", batched(w, args.run_entries)) for w in worker_counts]
    with backend(args) as (ddb_endpoint, s3_endpoint, label):
        ddb, s3 = clients(ddb_endpoint, s3_endpoint, args.latency_ms)
        print(
            f"Sweep throughput: {label}, {SHARDS} expiry shards, {args.latency_ms:g} ms added per request, "
            f"each mode stopped after {args.seconds:g} s, {os.cpu_count()} CPUs"
        )
        for images in sizes:
            now = int(time.time())
            objects = images if ddb_endpoint is None else min(images, args.objects_max)  # in-process: all
            print(f"\n{images:,} expired uploads ({objects:,} with their object)", flush=True)
            rates: dict[str, float] = {}
            table, bucket, due = None, None, 0
            for mode, run in modes:
                if table is None or due < images // 2:  # a fresh backlog when half of it is gone
                    if table is not None and bucket is not None:
                        drop(ddb, s3, table, bucket)
                    started = time.perf_counter()
                    table, bucket = seed(ddb, s3, images, now, in_process=ddb_endpoint is None, objects_max=objects)
                    due = images
                    print(f"  (seeded in {time.perf_counter() - started:.0f} s)", flush=True)
                started = time.perf_counter()
                removed = run(table, bucket, now, time.monotonic() + args.seconds)
                elapsed = time.perf_counter() - started
                rates[mode] = removed / elapsed
                print(
                    f"  {mode:<24} {removed:>7,} removed in {elapsed:6.1f} s = {rates[mode]:8.1f} images/s"
                    f"  (backlog {due:,} due before, {due - removed:,} after)",
                    flush=True,
                )
                due -= removed
            if table is not None and bucket is not None:
                drop(ddb, s3, table, bucket)
            base = rates["one request per image"]
            for mode in list(rates)[1:]:
                print(f"  {mode} / one request per image: {rates[mode] / base:.1f}x")
            first = list(rates)[1]
            for mode in list(rates)[2:]:
                print(f"  {mode} / {first}: {rates[mode] / rates[first]:.1f}x")


def drop(ddb: Any, s3: Any, table: Table, bucket: ImageBucket) -> None:
    """The bench's own throw-away table and bucket."""
    ddb.delete_table(TableName=table.name)
    while True:
        listed = s3.list_objects_v2(Bucket=bucket.name, MaxKeys=1000).get("Contents", [])
        if not listed:
            break
        s3.delete_objects(Bucket=bucket.name, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})
    s3.delete_bucket(Bucket=bucket.name)


if __name__ == "__main__":
    threading.excepthook = lambda hook: print(f"thread failed: {hook.exc_value!r}")
    main()
