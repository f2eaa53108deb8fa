"""Images deleted per second by a sweep, batched versus one request per image (`make bench-sweep`).

Seeds --images expired, unheld files (item + object) into moto's server (started here on a free port),
or into the running local stack's emulators with --local-stack URL (DynamoDB Local and S3, endpoints
from its /_local/health), or into --endpoint; then:
  batched:   the scheduler's sweep (Query per shard, BatchGetItem, conditional mark per image,
             DeleteObjects of 1,000 keys, BatchWriteItem of 25);
  per image: the same removal one request at a time (GetItem, conditional mark, DeleteObject,
             DeleteItem) for every image found in the index.
Each mode gets a fresh copy of the same data; the figure is images removed / wall seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import time
import uuid
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clients(dynamodb_endpoint: str, s3_endpoint: str) -> tuple[Any, Any]:
    session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION)
    return (session.client("dynamodb", endpoint_url=dynamodb_endpoint),
            session.client("s3", endpoint_url=s3_endpoint))


def local_stack_endpoints(url: str) -> tuple[str, str]:
    """(DynamoDB, S3) endpoints of a running local stack."""
    import requests

    health = requests.get(f"{url.rstrip('/')}/_local/health", timeout=5).json()
    return health["endpoints"]["dynamodb"], health["endpoints"]["s3"]


def seed(ddb: Any, s3: Any, images: int, now: int) -> tuple[Table, ImageBucket]:
    """A fresh table and bucket with `images` files whose retention ended an hour ago."""
    name = f"bench-sweep-{uuid.uuid4().hex[:8]}"
    create_table(ddb, name)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    table, bucket = Table(ddb, name), ImageBucket(s3, name)
    records = [
        FileRecord(tenant_id="bench", user_id=f"u{n % 50}", file_id=uuid.uuid4().hex, session_id="s",
                   filename="a.jpg", content_type="image/jpeg", size_bytes=4, status=FileStatus.AVAILABLE,
                   created_at=now - 7 * 3600, expires_at=now - 3600)
        for n in range(images)
    ]
    table.batch_write(puts=[r.to_item(SHARDS) for r in records])
    for record in records:
        s3.put_object(Bucket=name, Key=record.object_key, Body=b"\xff\xd8\xff\xe0")
    return table, bucket


def batched(table: Table, bucket: ImageBucket, now: int) -> int:
    from scheduler_service.logic.sweep import Budget, SweepContext, sweep

    expiry = ExpiryStore(table, bucket, SHARDS)
    ctx = SweepContext(expiry=expiry, holders=HolderStore(table, HoldStore(table, SHARDS), bucket),
                       tenant=lambda _: TenantSettings(), shards=SHARDS)
    removed = 0
    while True:
        report = sweep(ctx, now, Budget(max_entries=100_000))
        removed += report.files_removed
        if report.complete:
            return removed


def one_by_one(table: Table, bucket: ImageBucket, now: int) -> int:
    expiry = ExpiryStore(table, bucket, SHARDS)
    removed = 0
    for shard in range(SHARDS):
        start = None
        while True:
            entries, start = expiry.due(shard, now, limit=500, start=start)
            for entry in entries:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--endpoint", default=None, help="DynamoDB+S3 endpoint (default: moto server started here)")
    parser.add_argument("--local-stack", default=None, metavar="URL",
                        help="use the emulators of the local stack at URL (e.g. http://127.0.0.1:3000)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = None
    endpoint = args.endpoint
    if args.local_stack:
        endpoint, s3_endpoint = local_stack_endpoints(args.local_stack)
    elif endpoint is None:
        from moto.server import ThreadedMotoServer

        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
    if not args.local_stack:
        s3_endpoint = endpoint
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    try:
        ddb, s3 = clients(endpoint, s3_endpoint)
        now = int(time.time())
        print(f"{args.images} expired images, {SHARDS} expiry shards, DynamoDB {endpoint}, S3 {s3_endpoint}")
        rates = {}
        for label, run in (("batched", batched), ("one request per image", one_by_one)):
            table, bucket = seed(ddb, s3, args.images, now)
            started = time.perf_counter()
            removed = run(table, bucket, now)
            elapsed = time.perf_counter() - started
            left = s3.list_objects_v2(Bucket=bucket.name).get("KeyCount", 0)
            rates[label] = removed / elapsed
            print(f"  {label:<22} {removed:>6} removed in {elapsed:6.2f} s = {rates[label]:8.1f} images/s"
                  f"  (objects left: {left})")
            ddb.delete_table(TableName=table.name)  # the bench's own throw-away table and bucket
            if not left:
                s3.delete_bucket(Bucket=bucket.name)
        print(f"  batched / per image: {rates['batched'] / rates['one request per image']:.1f}x")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
