"""The local stack's rate and latency per endpoint for the upload mix, against the same backend requests
sent straight to its emulated DynamoDB and S3 (`make bench`).

Phase 1 (gateway): --threads clients loop for --seconds over the upload mix through the API on the
local stack: POST /uploads, the presigned S3 POST, POST /uploads/{id}/complete, PUT /projects/{id}
(If-Match) with the new file, GET /projects/{id}.
Phase 2 (direct): the same threads send, for each API call, the DynamoDB and S3 requests its handler
makes (as `make capacity` counts them) straight to the endpoints /_local/health names. The ratio
gateway/direct is the cost of the local gateway, authorizer and handlers (one Python process).
Uses the stack on :3000 when one runs, else starts one (bounded) and stops it.
"""

# ruff: noqa: B023  (every lambda below is called at once by Recorder.timed, inside its loop iteration)
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import requests

from loadtest import payloads
from loadtest.identity import LOCAL_AUDIENCE, LOCAL_ISSUER, TokenMinter
from loadtest.run_local import local_stack

Timings = dict[str, list[float]]


class Recorder:
    def __init__(self) -> None:
        self.timings: Timings = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def timed(self, name: str, call: Callable[[], Any], ok: Callable[[Any], bool] = lambda r: True) -> Any:
        started = time.perf_counter()
        result = call()
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.timings[name].append(elapsed)
            if not ok(result):
                self.errors[name] += 1
        return result


def gateway_loop(base: str, token: str, photo: bytes, recorder: Recorder, deadline: float) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    project_id: str | None = None
    version = 0
    file_ids: list[str] = []
    while time.monotonic() < deadline:
        ticket = recorder.timed(
            "POST /uploads",
            lambda: session.post(
                f"{base}/uploads",
                json={"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": len(photo)},
                timeout=30,
            ),
            lambda r: r.status_code == 201,
        ).json()
        body, content_type = payloads.multipart_form(ticket["upload"]["fields"], photo, "a.jpg", "image/jpeg")
        recorder.timed(
            "S3 POST presigned upload",
            lambda: requests.post(
                ticket["upload"]["url"], data=body, headers={"Content-Type": content_type}, timeout=30
            ),
            lambda r: r.status_code == 204,
        )
        recorder.timed(
            "POST /uploads/{id}/complete",
            lambda: session.post(f"{base}/uploads/{ticket['fileId']}/complete", timeout=30),
            lambda r: r.status_code == 200,
        )
        file_ids = ([*file_ids, ticket["fileId"]])[-10:]
        document = {"name": "bench", "productType": "photobook", "document": {"pages": file_ids}, "fileIds": file_ids}
        if project_id is None:
            saved = session.post(f"{base}/projects", json=document, timeout=30).json()
        else:
            saved = recorder.timed(
                "PUT /projects/{id}",
                lambda: session.put(
                    f"{base}/projects/{project_id}", json=document, headers={"If-Match": str(version)}, timeout=30
                ),
                lambda r: r.status_code == 200,
            ).json()
        project_id, version = saved["projectId"], saved["version"]
        recorder.timed(
            "GET /projects/{id}",
            lambda: session.get(f"{base}/projects/{project_id}", timeout=30),
            lambda r: r.status_code == 200,
        )


def direct_loop(
    endpoints: dict[str, str], table: str, bucket: str, photo: bytes, recorder: Recorder, deadline: float
) -> None:
    """Per API call, the backend requests its handler makes (counted by `make capacity`)."""
    import boto3

    # The local stack's credentials: its S3 (SeaweedFS) refuses any others.
    creds: dict[str, Any] = {"region_name": "eu-west-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}
    ddb = boto3.client("dynamodb", endpoint_url=endpoints["dynamodb"], **creds)
    s3 = boto3.client("s3", endpoint_url=endpoints["s3"], **creds)
    pk = {"S": f"T#bench#U#{uuid.uuid4().hex[:8]}"}
    project = {"S": f"T#bench#P#{uuid.uuid4().hex}"}
    ddb.put_item(TableName=table, Item={"pk": project, "sk": {"S": "META"}, "version": {"N": "1"}})
    while time.monotonic() < deadline:
        file_id = uuid.uuid4().hex
        key = {"pk": pk, "sk": {"S": f"FILE#{file_id}"}}
        item = {**key, "status": {"S": "pending"}, "sizeBytes": {"N": str(len(photo))}, "filename": {"S": "a.jpg"}}
        recorder.timed(
            "POST /uploads",
            lambda: (ddb.put_item(TableName=table, Item=item), s3.generate_presigned_post(bucket, f"bench/{file_id}")),
        )
        recorder.timed(
            "S3 POST presigned upload",
            lambda: s3.put_object(Bucket=bucket, Key=f"bench/{file_id}", Body=photo, ContentType="image/jpeg"),
        )
        recorder.timed(
            "POST /uploads/{id}/complete",
            lambda: (
                ddb.get_item(TableName=table, Key=key, ConsistentRead=True),
                s3.head_object(Bucket=bucket, Key=f"bench/{file_id}"),
                s3.get_object(Bucket=bucket, Key=f"bench/{file_id}", Range="bytes=0-65535")["Body"].read(),
                ddb.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="SET #s = :a",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":a": {"S": "ok"}},
                ),
            ),
        )
        link = {"pk": project, "sk": {"S": f"FILE#{file_id}"}}
        recorder.timed(
            "PUT /projects/{id}",
            lambda: (
                ddb.batch_get_item(RequestItems={table: {"Keys": [key]}}),
                ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": project}),
                ddb.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": table, "Item": {**link, "fileId": {"S": file_id}}}},
                        {
                            "Update": {
                                "TableName": table,
                                "Key": key,
                                "UpdateExpression": "ADD holdCount :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                        {
                            "Update": {
                                "TableName": table,
                                "Key": {"pk": project, "sk": {"S": "META"}},
                                "UpdateExpression": "ADD version :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                    ]
                ),
                ddb.put_item(TableName=table, Item={"pk": project, "sk": {"S": "DOC"}, "body": {"S": "x" * 300}}),
            ),
        )
        recorder.timed(
            "GET /projects/{id}",
            lambda: ddb.query(
                TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": project}
            ),
        )


def run_phase(
    name: str, threads: int, seconds: float, target: Callable[[Recorder, float], None]
) -> tuple[Recorder, float]:
    recorder = Recorder()
    deadline = time.monotonic() + seconds
    workers = [threading.Thread(target=target, args=(recorder, deadline), daemon=True) for _ in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 60)
    elapsed = time.monotonic() - started
    print(f"{name}: {sum(len(v) for v in recorder.timings.values())} calls in {elapsed:.1f} s", flush=True)
    return recorder, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '3000')}")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase (at most 60)")
    args = parser.parse_args(argv)
    seconds = min(args.seconds, 60.0)
    photo = payloads.photo_jpeg((800, 600))
    with local_stack(args.url.rstrip("/")) as (base, secret, _):
        health = requests.get(f"{base}/_local/health", timeout=5).json()
        minter = TokenMinter(secret, LOCAL_ISSUER, LOCAL_AUDIENCE, tenants=4)
        gateway, gateway_s = run_phase(
            "gateway",
            args.threads,
            seconds,
            lambda rec, deadline: gateway_loop(base, minter.next().token, photo, rec, deadline),
        )
        direct, direct_s = run_phase(
            "direct",
            args.threads,
            seconds,
            lambda rec, deadline: direct_loop(
                health["endpoints"], health["tables"][0], health["buckets"][0], photo, rec, deadline
            ),
        )
    print(
        f"\nlocal stack {base} (DynamoDB: {health['dynamodb']}, S3: {health['s3']}), {args.threads} threads, "
        f"{seconds:g} s per phase; latency in ms (median / p95)"
    )
    print(
        f"{'endpoint (upload mix)':32} {'gateway req/s':>13} {'median':>7} {'p95':>7} | {'direct ops/s':>12} "
        f"{'median':>7} {'p95':>7} | {'ratio (median)':>14}"
    )
    api_total = direct_total = 0
    for name in gateway.timings:
        g, d = gateway.timings[name], direct.timings.get(name, [])
        api_total += len(g) if not name.startswith("S3") else 0
        direct_total += len(d) if not name.startswith("S3") else 0
        ratio = statistics.median(g) / statistics.median(d) if d else float("nan")
        errors = f"  ({gateway.errors[name]} errors)" if gateway.errors.get(name) else ""
        print(
            f"{name:32} {len(g) / gateway_s:13.1f} {statistics.median(g):7.1f} {_p95(g):7.1f} | "
            f"{len(d) / direct_s:12.1f} {statistics.median(d) if d else 0:7.1f} {_p95(d):7.1f} | "
            f"{ratio:14.1f}{errors}"
        )
    print(
        f"{'API requests (excluding S3)':32} {api_total / gateway_s:13.1f} {'':7} {'':7} | "
        f"{direct_total / direct_s:12.1f} {'':7} {'':7} | {direct_total / direct_s / (api_total / gateway_s):14.1f}"
        "  (throughput ratio direct/gateway)"
    )
    return 0


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))] if values else 0.0


if __name__ == "__main__":
    sys.exit(main())
