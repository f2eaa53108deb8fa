"""imagestore-admin: the tenant registry of a stage, and the smoke test of a stage.

  imagestore-admin [--table NAME --region R | --local URL] tenants list|get|put|disable|enable
  imagestore-admin [--table NAME --bucket NAME | --local URL] orders remove TENANT ORDER_ID
  imagestore-admin [--table NAME --bucket NAME | --local URL] smoke --base-url URL --token JWT [--project-url URL]

A deployed stage is named by its table (the file service's TableName output, imagestore-<stage>)
and reached with the shell's AWS credentials; `--local http://127.0.0.1:3000` names a running local
stack, whose DynamoDB endpoint and stage its /_local/health tells.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import requests
from pydantic import ValidationError

from imagestore.data.holders import HolderStore
from imagestore.data.table import Table
from imagestore.data.tenants import TenantRegistry
from imagestore.errors import ConditionFailed, DomainError
from imagestore.models.tenants import TenantRecord, TenantStatus


def local_registry(base_url: str, table: str | None = None) -> TenantRegistry:
    """The registry of the local stack at base_url: its DynamoDB endpoint and stage from /_local/health."""
    import boto3

    health = requests.get(base_url.rstrip("/") + "/_local/health", timeout=10).json()
    client = boto3.client(
        "dynamodb",
        endpoint_url=health["endpoints"]["dynamodb"],
        region_name=health["region"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )  # the local stack's
    return TenantRegistry(Table(client, table or health["tables"][0]))


def _local_clients(base_url: str) -> tuple[dict[str, Any], Any, Any]:
    """The local stack's health, and boto3 DynamoDB and S3 clients of its emulators."""
    import boto3

    health = requests.get(base_url.rstrip("/") + "/_local/health", timeout=10).json()
    credentials = {"region_name": health["region"], "aws_access_key_id": "test", "aws_secret_access_key": "test"}
    dynamodb = boto3.client("dynamodb", endpoint_url=health["endpoints"]["dynamodb"], **credentials)
    s3 = boto3.client("s3", endpoint_url=health["endpoints"]["s3"], **credentials)
    return health, dynamodb, s3


def holder_store(args: argparse.Namespace) -> HolderStore:
    """The stage's holders (orders, projects) with the table and the image bucket the options name."""
    import boto3

    from imagestore.data.holds import HoldStore
    from imagestore.data.storage import ImageBucket

    if args.local:
        health, dynamodb, s3 = _local_clients(args.local)
        table = Table(dynamodb, args.table or health["tables"][0])
        bucket_name = args.bucket or next(b for b in health["buckets"] if "-images-" in b)
    else:
        if not args.table or not args.bucket:
            raise SystemExit(
                "imagestore-admin: name the stage's table and image bucket (--table imagestore-<stage> "
                "--bucket <BucketName output>, or IMAGESTORE_TABLE_NAME / IMAGESTORE_BUCKET_NAME), or a local "
                "stack (--local http://127.0.0.1:3000)"
            )
        table = Table(boto3.client("dynamodb", region_name=args.region), args.table)
        s3 = boto3.client("s3", region_name=args.region)
        bucket_name = args.bucket
    from imagestore.config import get_settings

    shards = get_settings().expiry_shards
    return HolderStore(table, HoldStore(table, shards), ImageBucket(s3, bucket_name))


def remove_order(holders: HolderStore, tenant_id: str, order_id: str, now: int) -> str:
    """Remove an order as the sweep removes an expired one (imagestore.data.holders: its pins released,
    its frozen documents, manifests and reference deleted), then finish the removal of each project it
    pinned that was deleted meanwhile (as the sweep would now: nothing pins it any more), so their files
    are free. What was done, in words; LookupError when there is no such order."""
    from imagestore import keys

    partition = holders.read(keys.order_pk(tenant_id, order_id))
    if partition.meta is None or partition.meta.get("entity") != "order":
        raise LookupError(f"no order {order_id} of tenant {tenant_id}")
    removed = holders.remove(partition, now)
    finished = []
    for pk in removed.unpinned if removed else []:
        project = holders.read(pk)
        if project.meta is not None and project.meta.get("status") == "deleting" and holders.remove(project, now):
            finished.append(pk.rsplit("#", 1)[-1])
    return f"removed order {order_id}" + (
        f" and the deleted project(s) it pinned: {', '.join(finished)}" if finished else ""
    )


def finish_deleted_projects(holders: HolderStore, tenant_id: str, project_ids: list[str], now: int) -> list[str]:
    """Finish now what the sweep would at its next run: remove each of these projects that was deleted
    (DELETE /projects/{id} only marks it, due at once) and that nothing pins any more; the removed ones."""
    from imagestore import keys

    finished = []
    for project_id in project_ids:
        partition = holders.read(keys.project_pk(tenant_id, project_id))
        if partition.meta is not None and partition.meta.get("status") == "deleting" and holders.remove(partition, now):
            finished.append(project_id)
    return finished


def orders_command(args: argparse.Namespace) -> int:
    try:
        print(remove_order(holder_store(args), args.tenant, args.order, int(time.time())))
    except LookupError as exc:
        print(f"imagestore-admin: {exc.args[0]}", file=sys.stderr)
        return 1
    return 0


def registry_of(args: argparse.Namespace) -> TenantRegistry:
    """The registry of the stage the options name."""
    import boto3

    if args.local:
        return local_registry(args.local, args.table)
    if not args.table:
        raise SystemExit(
            "imagestore-admin: name the stage's table (--table imagestore-<stage>, or "
            "IMAGESTORE_TABLE_NAME), or a local stack (--local http://127.0.0.1:3000)"
        )
    return TenantRegistry(Table(boto3.client("dynamodb", region_name=args.region), args.table))


def read_document(source: str) -> Any:
    text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()  # noqa: SIM115
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"imagestore-admin: {source} is not JSON: {exc}") from exc


def validation_problems(exc: ValidationError) -> str:
    """Each refused field by name, with why."""
    return "\n".join(
        f"  {'.'.join(str(p) for p in error['loc']) or '(document)'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    )


def tenants_command(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    now = int(time.time())
    if args.action == "list":
        records = registry.list()
        print(f"{'tenant':<32} {'status':<9} {'plan':<12} display name")
        for record in records:
            print(
                f"{record.tenant_id:<32} {record.status.value:<9} {record.usage_plan or '-':<12} {record.display_name}"
            )
        print(f"{len(records)} tenant(s) in {registry.table.name}")
        return 0
    if args.action == "get":
        found = registry.get(args.tenant)
        if found is None:
            print(f"imagestore-admin: no tenant {args.tenant} in {registry.table.name}", file=sys.stderr)
            return 1
        print(json.dumps(found.document(), indent=2, sort_keys=True))
        return 0
    if args.action == "put":
        try:
            record = TenantRecord.model_validate(read_document(args.document))
        except ValidationError as exc:
            print(
                f"imagestore-admin: the document is refused, nothing was written:\n{validation_problems(exc)}",
                file=sys.stderr,
            )
            return 2
        registry.put(record, now)
        print(f"put {record.tenant_id} ({record.status.value}) in {registry.table.name}")
        return 0
    status = TenantStatus.DISABLED if args.action == "disable" else TenantStatus.ACTIVE
    try:
        registry.set_status(args.tenant, status, now)
    except (DomainError, ConditionFailed) as exc:
        print(f"imagestore-admin: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.tenant} is {status.value} in {registry.table.name}; the functions see it within their "
        f"cache period (IMAGESTORE_TENANT_CACHE_SECONDS)"
    )
    return 0


def smoke_command(args: argparse.Namespace) -> int:
    from imagestore_admin import smoke

    remover = None
    if args.local or (args.table and args.bucket):  # the operator's access: the smoke's order is removed too
        holders = holder_store(args)

        def remover(tenant_id: str, made: dict[str, str]) -> str:
            """What the smoke made and the API leaves for the sweep: its order, the project and copy it
            deleted (still holding the photo until the sweep's next run), its revoked mobile upload."""
            from imagestore import keys

            now, done = int(time.time()), []
            if "order" in made:
                done.append(remove_order(holders, tenant_id, made["order"], now))
            projects = [made[kind] for kind in ("copy", "project") if kind in made]
            finished = finish_deleted_projects(holders, tenant_id, projects, now)
            if finished:
                done.append(f"finished removing project(s) {', '.join(finished)}")
            if "mobile-upload" in made:
                partition = holders.read(keys.mobile_upload_pk(tenant_id, made["mobile-upload"]))
                if partition.meta is not None and holders.remove(partition, now) is not None:
                    done.append("removed the revoked mobile upload")
            return "; ".join(done)

    return smoke.main(args.base_url, args.token, project_url=args.project_url, remove_order=remover)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="imagestore-admin", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    top.add_argument(
        "--table",
        default=os.environ.get("IMAGESTORE_TABLE_NAME"),
        help="the stage's table (imagestore-<stage>); default IMAGESTORE_TABLE_NAME",
    )
    top.add_argument(
        "--bucket",
        default=os.environ.get("IMAGESTORE_BUCKET_NAME"),
        help="the stage's image bucket (the file service's BucketName output); default IMAGESTORE_BUCKET_NAME",
    )
    top.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    top.add_argument("--local", metavar="URL", help="a running local stack, e.g. http://127.0.0.1:3000")
    commands = top.add_subparsers(dest="command", required=True)

    tenants = commands.add_parser("tenants", help="the tenant registry")
    actions = tenants.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every tenant")
    for name, text in (
        ("get", "a tenant's document"),
        ("disable", "refuse the tenant's requests (403)"),
        ("enable", "accept the tenant's requests again"),
    ):
        actions.add_parser(name, help=text).add_argument("tenant")
    put = actions.add_parser("put", help="create or replace a tenant from its JSON document (a file, or - for stdin)")
    put.add_argument("document")
    tenants.set_defaults(run=tenants_command)

    orders = commands.add_parser("orders", help="orders of a stage (the operator's clean-up)")
    order_actions = orders.add_subparsers(dest="action", required=True)
    remove = order_actions.add_parser(
        "remove", help="remove an order now as the sweep would at its retention's end (its holds released)"
    )
    remove.add_argument("tenant")
    remove.add_argument("order")
    orders.set_defaults(run=orders_command)

    smoke = commands.add_parser("smoke", help="the main flows over HTTP against a stage; non-zero exit on failure")
    smoke.add_argument("--base-url", required=True, help="the stage's File API (and Project API) base URL")
    smoke.add_argument("--project-url", help="the Project API's base URL when it is not --base-url")
    smoke.add_argument("--token", required=True, help="a JWT of a user of a registered, active tenant")
    smoke.set_defaults(run=smoke_command)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
