"""Upgrade a stage's legacy projects (schema 1) to holds v2, ahead of their first save.

Not needed for correctness: the new code reads legacy projects as they are and upgrades each on its
first save, copy, cart item or order (imagestore.data.projects.ProjectStore.upgrade). This finishes
the job for projects nobody touches, so the legacy read path can be dropped later. It Scans the table
(a maintenance tool, never a request path), pages at a time, and upgrades each live legacy project
under its lock: its hold links become holds on the files (holdCount unchanged), its document and
file list become its version's manifest in S3, its META loses fileIds and document. Safe to stop and
run again; projects being saved are skipped (run again later). Legacy cart items and orders keep
their links and are read and removed as before.

    IMAGESTORE_TABLE_NAME=... IMAGESTORE_BUCKET_NAME=... python -m deploy.backfill_holds_v2 --dry-run
    IMAGESTORE_TABLE_NAME=... IMAGESTORE_BUCKET_NAME=... python -m deploy.backfill_holds_v2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from imagestore.data import factory
from imagestore.data.table import deserialize
from imagestore.errors import DomainError
from imagestore.models.projects import ProjectRecord, ProjectStatus


@dataclass
class BackfillReport:
    legacy: int = 0
    upgraded: int = 0
    skipped: int = 0  # being saved, deleted or expired: upgraded by its next save or removed by the sweep


def legacy_projects(page_size: int) -> Iterator[dict[str, Any]]:
    """Every legacy project META of the table (Scan, a page at a time)."""
    table = factory.table()
    kwargs: dict[str, Any] = {
        "TableName": table.name, "Limit": page_size, "ConsistentRead": True,
        "FilterExpression": "entity = :project AND sk = :meta AND attribute_not_exists(#schema)",
        "ExpressionAttributeNames": {"#schema": "schema"},
        "ExpressionAttributeValues": {":project": {"S": ProjectRecord.ENTITY}, ":meta": {"S": "META"}},
    }
    while True:
        page = table.client.scan(**kwargs)
        yield from (deserialize(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def backfill(*, dry_run: bool, now: int, page_size: int = 500) -> BackfillReport:
    """Upgrade every live legacy project (or, with dry_run, count them)."""
    report = BackfillReport()
    projects = factory.project_store()
    for item in legacy_projects(page_size):
        record = ProjectRecord.from_item(item)
        report.legacy += 1
        if dry_run:
            continue
        if record.status is not ProjectStatus.ACTIVE or record.expires_at <= now:
            report.skipped += 1
            continue
        manifest = projects.manifest(record)
        if manifest is None:
            report.skipped += 1
            continue
        try:
            projects.upgrade(record, manifest, now)
        except DomainError:
            report.skipped += 1  # saved, locked or deleted meanwhile
            continue
        report.upgraded += 1
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="count legacy projects, change nothing")
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args(argv)
    report = backfill(dry_run=args.dry_run, now=int(time.time()), page_size=args.page_size)
    json.dump({"dryRun": args.dry_run, **report.__dict__}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
