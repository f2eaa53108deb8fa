"""Make the previews of files completed before the previews function existed (issue 18).

Such files have no previewStatus (the API shows "pending") and no previews. This Scans the table (a
maintenance tool, never a request path), a page at a time, for available files without previewStatus,
and invokes the previews function asynchronously for each with the S3 event it would have had (the
completion's ObjectCreated:Copy), so that the function, and only it, reads the originals (design
invariant 5); its retries, dead-letter queue and alarms apply as for new uploads. At most --rate
invocations a second. Safe to stop and run again: the function skips files whose previews are ready.

    IMAGESTORE_TABLE_NAME=... IMAGESTORE_BUCKET_NAME=... python -m deploy.backfill_previews \\
        --function imagestore-file-<stage>-previews [--dry-run] [--rate 50]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from imagestore.data import factory
from imagestore.data.table import deserialize
from imagestore.models.files import FileRecord, FileStatus


def files_without_previews(page_size: int) -> Iterator[FileRecord]:
    """Every available file of the table that has no previewStatus (Scan, a page at a time)."""
    table = factory.table()
    kwargs: dict[str, Any] = {
        "TableName": table.name,
        "Limit": page_size,
        "FilterExpression": "entity = :file AND #status = :available AND attribute_not_exists(previewStatus)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {
            ":file": {"S": FileRecord.ENTITY},
            ":available": {"S": FileStatus.AVAILABLE.value},
        },
    }
    while True:
        page = table.client.scan(**kwargs)
        yield from (FileRecord.from_item(deserialize(item)) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def copy_event(bucket: str, key: str, region: str) -> dict[str, Any]:
    """The S3 notification the previews function receives for the completion's copy of key."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventName": "ObjectCreated:Copy",
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "userIdentity": {"principalId": "imagestore-backfill"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "backfill", "x-amz-id-2": "backfill"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "backfill-previews",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "imagestore"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {"key": key, "size": 0, "eTag": "", "sequencer": "0"},
                },
            }
        ]
    }


def backfill(
    invoke: Callable[[dict[str, Any]], None],
    *,
    bucket: str,
    region: str,
    dry_run: bool,
    rate: float,
    page_size: int = 500,
) -> int:
    """Invoke the previews function for every file without previews (or, with dry_run, count them)."""
    count = 0
    for record in files_without_previews(page_size):
        count += 1
        if not dry_run:
            invoke(copy_event(bucket, record.object_key, region))
            time.sleep(1 / rate)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", required=True, help="the previews function's name or ARN")
    parser.add_argument("--dry-run", action="store_true", help="count the files, invoke nothing")
    parser.add_argument("--rate", type=float, default=50.0, help="invocations a second at most")
    args = parser.parse_args(argv)
    import boto3

    from imagestore.config import get_settings

    client = boto3.client("lambda")
    region = client.meta.region_name

    def invoke(event: dict[str, Any]) -> None:
        client.invoke(FunctionName=args.function, InvocationType="Event", Payload=json.dumps(event).encode())

    count = backfill(invoke, bucket=get_settings().bucket_name, region=region, dry_run=args.dry_run, rate=args.rate)
    print(json.dumps({"filesWithoutPreviews": count, "invoked": 0 if args.dry_run else count}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
