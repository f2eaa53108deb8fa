"""A photo book through the local stack (`make bench-uploads`): N photos plus one large file, one by one
vs batched + multipart, with an added round trip per request and a connection cut at 50 % of the
large file.

One by one: per photo requestUpload, its presigned POST, completeUpload (3 requests, 2 of them API calls);
the large file is one POST, and the cut loses everything sent so far (it is sent again from its start).
Batched + multipart: requestUploads and completeUploads of 100 files a call, the photos' POSTs; the
large file as a multipart upload (createMultipartUpload, one signMultipartParts, its parts, after the cut
listMultipartParts and only the missing parts, completeMultipartUpload).

Both modes use --connections parallel connections (threads) and wait --rtt-ms before every request (API
and S3 alike: the round trip of a phone or a distant shop, added in the client on 127.0.0.1). The cut is
a request whose body stops half-way: S3 refuses it (a POST policy's size, a part URL's signed length),
and its bytes count as sent. Printed: API calls, wall time, bytes sent, bytes sent again after the cut.

    python -m benchmarks.uploads                       # 400 photos x 4 MB + 60 MB (the issue's book)
    python -m benchmarks.uploads --photos 100 --photo-mb 1   # lighter, for a busy machine
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

BATCH = 100
PART_BYTES = 8 * 1024 * 1024
BIG_TENANT = "bench-uploads"


@dataclass
class Tally:
    api_calls: int = 0
    s3_requests: int = 0
    bytes_sent: int = 0
    bytes_resent: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


class Client:
    """The API and S3 over HTTP, with the added round trip before every request."""

    def __init__(self, base_url: str, token: str, rtt: float, connections: int, checksums: bool = True) -> None:
        self.checksums = checksums
        self.phases: dict[str, float] = {}
        self.slots = threading.BoundedSemaphore(connections)  # at most this many requests at once
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rtt = rtt
        self.tally = Tally()
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session  # type: ignore[no-any-return]

    def api(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        for attempt in range(1, 4):  # a 503 (Retry-After) is asked again, as a real client does; each counts
            with self.slots:
                time.sleep(self.rtt)
                self.tally.add(api_calls=1)
                response = self.session.request(
                    method, self.base_url + path, json=body, headers=self.headers, timeout=300
                )
            if response.status_code != 503 or attempt == 3:
                break
            self.tally.add(retries=1)
            time.sleep(float(response.headers.get("Retry-After", "1")))
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def post(self, upload: dict[str, Any], data: bytes) -> int:
        with self.slots:
            time.sleep(self.rtt)
            self.tally.add(s3_requests=1, bytes_sent=len(data))
            return self.session.post(
                upload["url"], data=upload["fields"], files={"file": ("f", data)}, timeout=300
            ).status_code

    def put(self, part: dict[str, Any], data: bytes, headers: dict[str, str] | None = None) -> int:
        with self.slots:
            time.sleep(self.rtt)
            self.tally.add(s3_requests=1, bytes_sent=len(data))
            return self.session.put(part["url"], data=data, headers=headers or part["headers"], timeout=300).status_code


def sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def describe(name: str, data: bytes, checksum: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"filename": name, "contentType": "image/jpeg", "sizeBytes": len(data)}
    if checksum:
        body["sha256"] = sha256(data)
    return body


def one_by_one(client: Client, photos: list[bytes], big: bytes, connections: int) -> list[str]:
    def single(item: tuple[int, bytes]) -> str:
        n, data = item
        ticket = client.api("POST", "/uploads", describe(f"p{n}.jpg", data, client.checksums), expect=201)
        if n < 0:  # the large file: cut at 50 %, then sent again from its start
            half = data[: len(data) // 2]
            if client.post(ticket["upload"], half) < 300:
                raise RuntimeError("a POST cut short was accepted")
            client.tally.add(bytes_resent=len(half))
        status = client.post(ticket["upload"], data)
        if status != 204:
            raise RuntimeError(f"POST answered {status}")
        return str(client.api("POST", f"/uploads/{ticket['fileId']}/complete")["fileId"])

    with ThreadPoolExecutor(connections) as pool:
        return list(pool.map(single, [(-1, big), *enumerate(photos)]))


def batched(client: Client, photos: list[bytes], big: bytes, connections: int) -> list[str]:
    """Tickets 100 to a call, asked one batch after the other while the bytes of the batches already
    answered go (a 100-item requestUploads takes seconds on a busy machine: waiting for all four first
    left the connections idle); the POSTs on `connections` connections; each batch completed (one call) as
    soon as its own POSTs are done, while the next batches' bytes go on."""
    started = time.perf_counter()
    with ThreadPoolExecutor(connections + 2) as pool:  # requests still take one of `connections` slots
        big_file = pool.submit(multipart, client, big, connections)

        def tickets_of(start: int) -> list[dict[str, Any]]:
            chunk = photos[start : start + BATCH]
            answer = client.api(
                "POST",
                "/upload-batches",
                {"files": [describe(f"p{start + i}.jpg", d, client.checksums) for i, d in enumerate(chunk)]},
            )
            return [item["ticket"] for item in answer["items"]]

        batches: list[tuple[list[dict[str, Any]], list[Any]]] = []
        with ThreadPoolExecutor(1) as ticketing:  # one batch call at a time, in order
            for start, answered in zip(
                range(0, len(photos), BATCH),
                ticketing.map(tickets_of, range(0, len(photos), BATCH)),
                strict=True,
            ):
                posts = [
                    pool.submit(client.post, t["upload"], d)
                    for t, d in zip(answered, photos[start : start + BATCH], strict=True)
                ]
                batches.append((answered, posts))
        client.phases["tickets"] = time.perf_counter() - started
        ids: list[str] = []
        for tickets, posts in batches:
            statuses = {f.result() for f in posts}
            if statuses != {204}:
                raise RuntimeError(f"POSTs answered {sorted(statuses)}")
            batch_ids = [t["fileId"] for t in tickets]
            done = client.api("POST", "/upload-batches/complete", {"fileIds": batch_ids})
            if done["failed"]:
                raise RuntimeError(f"{done['failed']} completions failed: {done['items'][:2]}")
            ids.extend(batch_ids)
        client.phases["photos"] = time.perf_counter() - started
        big_id = big_file.result()
        client.phases["all"] = time.perf_counter() - started
        return [big_id, *ids]


def multipart(client: Client, data: bytes, connections: int) -> str:
    """Parts in order; at 50 % of the bytes the part in flight is cut; then list, send the missing, complete."""
    created = client.api(
        "POST",
        "/multipart-uploads",
        {**describe("big.jpg", data, client.checksums), "partSizeBytes": PART_BYTES},
        expect=201,
    )
    file_id = created["fileId"]
    count = created["partCount"]

    def part_bytes(n: int) -> bytes:
        return data[(n - 1) * PART_BYTES : n * PART_BYTES]

    parts: list[dict[str, Any]] = [{"partNumber": n} for n in range(1, count + 1)]
    if client.checksums:
        for part in parts:
            part["sha256"] = sha256(part_bytes(part["partNumber"]))
    signed = {
        p["partNumber"]: p for p in client.api("POST", f"/multipart-uploads/{file_id}/parts", {"parts": parts})["parts"]
    }
    # The parts that fit in the first half go in parallel; the next one is cut half-way (the connection drops).
    before_cut = [n for n in range(1, count + 1) if n * PART_BYTES <= len(data) // 2]
    with ThreadPoolExecutor(connections) as pool:
        if set(pool.map(lambda n: client.put(signed[n], part_bytes(n)), before_cut)) - {200}:
            raise RuntimeError("a part was refused")
    cut_part = len(before_cut) + 1
    cut = part_bytes(cut_part)[: len(part_bytes(cut_part)) // 2]
    if client.put(signed[cut_part], cut, {**signed[cut_part]["headers"], "Content-Length": str(len(cut))}) < 300:
        raise RuntimeError("a part cut short was accepted")
    client.tally.add(bytes_resent=len(cut))
    missing = client.api("GET", f"/multipart-uploads/{file_id}/parts")["missingPartNumbers"]
    with ThreadPoolExecutor(connections) as pool:
        if set(pool.map(lambda n: client.put(signed[n], part_bytes(n)), missing)) - {200}:
            raise RuntimeError("a missing part was refused")
    client.api("POST", f"/multipart-uploads/{file_id}/complete")
    return str(file_id)


def cpu_seconds(root_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the local stack's processes, by component: SeaweedFS
    (S3), DynamoDB Local (java), the gateway (the stack's own process) and the functions' worker processes."""
    import psutil

    out: dict[str, float] = {}
    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return out
    for process in processes:
        try:
            times, name = process.cpu_times(), process.name()
        except psutil.Error:
            continue
        group = (
            "seaweedfs"
            if name == "weed"
            else "dynamodb"
            if name == "java"
            else "gateway"
            if process.pid == root_pid
            else "functions"
        )
        out[group] = round(out.get(group, 0.0) + times.user + times.system, 1)
    return out


def _print_stack_errors(log_path: Path) -> None:
    """The stack's log lines around its errors (its data folder is deleted when the run stops)."""
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    marked = [i for i, line in enumerate(lines) if "ERROR" in line or "Traceback" in line]
    shown = sorted({j for i in marked[-5:] for j in range(max(0, i - 3), min(len(lines), i + 40))})
    print("bench-uploads: the stack's log around its last errors:", file=sys.stderr)
    for j in shown:
        print(f"  {lines[j]}", file=sys.stderr)


def photo_bytes(n: int, size: int) -> bytes:
    from tests.support.images import jpeg, large_jpeg

    return large_jpeg(size, (64 + n % 200, 48 + n // 200)) if size > 4096 else jpeg((64 + n % 200, 48))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.e2e.stack import running_stack

    photo_size, big_size = int(args.photo_mb * 1_000_000), int(args.big_mb * 1_000_000)
    print(
        f"bench-uploads: making {args.photos} photos of {args.photo_mb} MB and one of {args.big_mb} MB", file=sys.stderr
    )
    settings = json.dumps(
        {BIG_TENANT: {"max_upload_bytes": max(big_size, photo_size) + 1_000_000, "upload_url_seconds": 3600}}
    )
    results: dict[str, Any] = {
        "photos": args.photos,
        "photoBytes": photo_size,
        "bigBytes": big_size,
        "rttMs": args.rtt_ms,
        "connections": args.connections,
        "modes": {},
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-uploads-") as folder,
        running_stack(Path(folder) / "data", extra_env={"IMAGESTORE_TENANT_SETTINGS": settings}, timeout=180) as stack,
    ):
        for mode, upload in (("one-by-one", one_by_one), ("batched+multipart", batched)):
            # Other users each run: the photos are the same bytes (a duplicate is the same user's only).
            client = Client(
                stack.base_url,
                stack.mint_token(BIG_TENANT, f"user-{mode}"),
                args.rtt_ms / 1000,
                args.connections,
                checksums=not args.no_checksums,
            )
            photos = [photo_bytes(n, photo_size) for n in range(args.photos)]
            big = photo_bytes(10_000, big_size)
            print(f"bench-uploads: {mode} ...", file=sys.stderr)
            cpu_before, client_cpu = cpu_seconds(stack.process.pid), time.process_time()
            started = time.perf_counter()
            try:
                ids = upload(client, photos, big, args.connections)
            except Exception:
                _print_stack_errors(stack.log_path)
                raise
            wall = time.perf_counter() - started
            client_cpu = time.process_time() - client_cpu
            cpu_after = cpu_seconds(stack.process.pid)
            t = client.tally
            results["modes"][mode] = {
                "apiCalls": t.api_calls,
                "s3Requests": t.s3_requests,
                "wallSeconds": round(wall, 2),
                "bytesSent": t.bytes_sent,
                "bytesResentAfterCut": t.bytes_resent,
                "files": len(ids),
                "retriedAfter503": t.retries,
                "phases": {name: round(seconds, 1) for name, seconds in client.phases.items()},
                "cpuSeconds": {
                    **{name: round(cpu_after[name] - cpu_before.get(name, 0.0), 1) for name in cpu_after},
                    "client": round(client_cpu, 1),
                },
            }
            del photos, big
    one, both = results["modes"]["one-by-one"], results["modes"]["batched+multipart"]
    results["speedup"] = round(one["wallSeconds"] / both["wallSeconds"], 2)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--photo-mb", type=float, default=4.0)
    parser.add_argument("--big-mb", type=float, default=60.0)
    parser.add_argument("--rtt-ms", type=float, default=100.0)
    parser.add_argument("--connections", type=int, default=6)
    parser.add_argument(
        "--no-checksums", action="store_true", help="declare no sha256 (both modes; by default both declare it)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(
        f"{args.photos} photos x {args.photo_mb} MB + 1 x {args.big_mb} MB, +{args.rtt_ms:g} ms per request, "
        f"{args.connections} connections, a cut at 50 % of the large file, "
        f"{'no checksums' if args.no_checksums else 'SHA-256 declared'} in both modes"
    )
    print(f"{'mode':<20} {'API calls':>9} {'S3 requests':>11} {'wall s':>8} {'MB sent':>8} {'MB re-sent':>10}")
    for mode, m in results["modes"].items():
        print(
            f"{mode:<20} {m['apiCalls']:>9} {m['s3Requests']:>11} {m['wallSeconds']:>8.1f} "
            f"{m['bytesSent'] / 1e6:>8.1f} {m['bytesResentAfterCut'] / 1e6:>10.1f}"
        )
    for mode, m in results["modes"].items():
        cpu = ", ".join(f"{name} {seconds:.0f}" for name, seconds in sorted(m["cpuSeconds"].items()))
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in m["phases"].items())
        retried = f"; {m['retriedAfter503']} API calls answered 503 and asked again" if m["retriedAfter503"] else ""
        print(f"{mode:<20} CPU seconds: {cpu}" + (f"; phases: {phases}" if phases else "") + retried)
    print(
        f"batched+multipart is {results['speedup']}x faster; re-sent after the cut: at most one part "
        f"({PART_BYTES / 1e6:.1f} MB) vs the whole file's first half"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
