"""Seconds until N photos uploaded to the local stack all have their previews (`make bench-local-previews`);
with --book, also until the book they were saved in at once shows them all (GET /projects/{id}).

--threads clients upload --photos small JPEGs (POST /uploads, the presigned S3 POST, POST /uploads/{id}/complete:
the completion's copy is the S3 event the previews function gets, asynchronously); then GET /files pages are read
until every file's previewStatus is ready (or failed). Printed: upload time, the time from the first upload to the
last preview, previews per second. Uses the stack on :3000 when one runs, else starts one (bounded) and stops it;
the previews function's local concurrency is the stack's (IMAGESTORE_LOCAL_CONCURRENCY, default 4).
"""

from __future__ import annotations

import argparse
import contextlib
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


def _answers(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(url, timeout=30).status_code == 200
    return False


def project_statuses(base: str, session: requests.Session, project_id: str, shown: set[str]) -> dict[str, str]:
    """What GET /projects/{id} shows of each file's preview (its files pages): "ready" or "failed" as its
    previewStatus says; a file saved while its previews were pending keeps "pending" there, but its thumb URL is
    signed anyway and answers once the preview is made: "shown" then (`shown` remembers those), else "pending"."""
    out: dict[str, str] = {}
    cursor: str | None = None
    while True:
        answer = session.get(
            f"{base}/projects/{project_id}", params={"filesCursor": cursor} if cursor else None, timeout=60
        )
        if answer.status_code != 200:
            return out
        view = answer.json()
        files = view["files"]
        unconfirmed = {
            f["fileId"]: f["previews"]["thumb"]["url"]
            for f in files
            if f.get("previewStatus") == "pending"
            and f["fileId"] not in shown
            and (f.get("previews") or {}).get("thumb")
        }
        with ThreadPoolExecutor(8) as pool:
            answered = dict(zip(unconfirmed, pool.map(_answers, unconfirmed.values()), strict=True))
        shown.update(file_id for file_id, ok in answered.items() if ok)
        for f in files:
            status = f.get("previewStatus", "pending")
            out[f["fileId"]] = "shown" if status == "pending" and f["fileId"] in shown else status
        cursor = view.get("filesNextCursor")
        if not cursor:
            return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '3000')}")
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")
    parser.add_argument(
        "--book",
        action="store_true",
        help="save the photos as one book as soon as they are uploaded (issue 28's done-when) and wait until "
        "GET /projects/{id} shows every preview too",
    )
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
        project_id = None
        if args.book:
            saved = session.post(
                f"{base}/projects",
                json={"name": "bench", "productType": "photobook", "document": {}, "fileIds": sorted(ids)},
                timeout=120,
            )
            saved.raise_for_status()
            project_id = saved.json()["projectId"]
            print(f"book {project_id} saved with {len(ids)} photos at {time.monotonic() - started:.1f} s", flush=True)
        done: dict[str, str] = {}
        in_book: dict[str, str] = {}
        shown: set[str] = set()
        book_at: float | None = None
        elapsed = 0.0
        while time.monotonic() - started < args.timeout:
            if len(done) < len(ids):
                done = {k: v for k, v in statuses(base, session).items() if k in ids and v != "pending"}
                elapsed = time.monotonic() - started
            if project_id is not None and book_at is None:
                in_book = {
                    k: v for k, v in project_statuses(base, session, project_id, shown).items() if v != "pending"
                }
                book_at = time.monotonic() - started if len(in_book) == len(ids) else None
            if len(done) == len(ids) and (project_id is None or book_at is not None):
                break
            time.sleep(0.5)
        if len(done) < len(ids):
            elapsed = time.monotonic() - started
    failed = sum(1 for v in done.values() if v != "ready")
    print(
        f"previews of {len(done)} of {len(ids)} photos ({failed} failed) {elapsed:.1f} s after the first upload: "
        f"{len(done) / elapsed:.1f} photos/s; the last {elapsed - uploaded:.1f} s after the last upload"
    )
    if project_id is not None:
        book = (
            f"every preview of the book {book_at:.1f} s after the first upload"
            if book_at is not None
            else f"{len(in_book)} of {len(ids)} previews when the run ended ({time.monotonic() - started:.0f} s)"
        )
        print(f"GET /projects/{{id}} showed {book} (thumb URLs answering: {len(shown)})")
    complete = len(done) == len(ids) and (project_id is None or book_at is not None)
    return 0 if complete and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
