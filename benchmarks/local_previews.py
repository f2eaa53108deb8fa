"""Seconds until N photos uploaded to the local stack all have their previews (`make bench-local-previews`).

--threads clients upload --photos small JPEGs (POST /uploads, the presigned S3 POST, POST /uploads/{id}/complete:
the completion's copy is the S3 event the previews function gets, asynchronously); then GET /files pages are read
until every file's previewStatus is ready (or failed). Printed: upload time, the time from the first upload to the
last preview, previews per second. Uses the stack on :3000 when one runs, else starts one (bounded) and stops it;
the previews function's local concurrency is the stack's (IMAGESTORE_LOCAL_CONCURRENCY, default 4).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from loadtest import payloads
from loadtest.identity import LOCAL_AUDIENCE, LOCAL_ISSUER, TokenMinter
from loadtest.run_local import local_stack


def upload(base: str, session: requests.Session, photo: bytes) -> str:
    ticket = session.post(
        f"{base}/uploads", json={"filename": "p.jpg", "contentType": "image/jpeg", "sizeBytes": len(photo)}, timeout=60
    )
    ticket.raise_for_status()
    fields, file_id = ticket.json()["upload"], ticket.json()["fileId"]
    body, content_type = payloads.multipart_form(fields["fields"], photo, "p.jpg", "image/jpeg")
    requests.post(fields["url"], data=body, headers={"Content-Type": content_type}, timeout=60).raise_for_status()
    session.post(f"{base}/uploads/{file_id}/complete", timeout=60).raise_for_status()
    return str(file_id)


def statuses(base: str, session: requests.Session) -> dict[str, str]:
    out: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        answer = session.get(f"{base}/files", params=params, timeout=60)
        if answer.status_code != 200:  # throttled or busy: the next poll reads again
            return out
        page = answer.json()
        out.update({f["fileId"]: f.get("previewStatus", "pending") for f in page["items"]})
        cursor = page.get("nextCursor")
        if not cursor:
            return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '3000')}")
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")
    args = parser.parse_args(argv)
    photo = payloads.photo_jpeg((640, 480))
    with local_stack(args.url.rstrip("/")) as (base, secret, _):
        minter = TokenMinter(secret, LOCAL_ISSUER, LOCAL_AUDIENCE, tenants=1)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {minter.next().token}"
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=args.threads))
        started = time.monotonic()
        with ThreadPoolExecutor(args.threads) as pool:
            ids = set(pool.map(lambda _: upload(base, session, photo), range(args.photos)))
        uploaded = time.monotonic() - started
        print(f"{len(ids)} photos ({len(photo)} bytes, 640x480) uploaded in {uploaded:.1f} s", flush=True)
        done: dict[str, str] = {}
        while time.monotonic() - started < args.timeout:
            done = {k: v for k, v in statuses(base, session).items() if k in ids and v != "pending"}
            if len(done) == len(ids):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
    failed = sum(1 for v in done.values() if v != "ready")
    print(
        f"previews of {len(done)} of {len(ids)} photos ({failed} failed) {elapsed:.1f} s after the first upload: "
        f"{len(done) / elapsed:.1f} photos/s"
    )
    return 0 if len(done) == len(ids) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
