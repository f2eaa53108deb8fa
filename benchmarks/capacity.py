"""Capacity model (`make capacity`): what each API operation costs in DynamoDB and S3 requests, and the
rate at which it meets its first AWS limit.

The requests are counted, not written down: every operation runs through its real handler, in-process,
against moto (table and bucket from services/file/serverless.yml), with boto3 event hooks on the layer's
clients (before-parameter-build: the request's parameters; after-call: the response). Setup calls are
not counted.

Capacity units are COMPUTED FROM ITEM SIZES with DynamoDB's rules, because moto answers
ReturnConsumedCapacity with constants (0.5 / 1.0) whatever the item: reads 4 KB units (eventually
consistent and index reads half), writes 1 KB units of the larger of the old and new item (the old one
read through a second, uncounted client), transactions twice, index writes per index whose key the item
carries (a changed index key: delete + put). Query reads the summed size of the items it returns.

Quotas (AWS defaults, per account and region unless said): API Gateway 10,000 req/s; Lambda 1,000
concurrent executions (+1,000 per 10 s per function), concurrency = rate x duration, duration assumed
--lambda-base-ms + per call (--dynamodb-call-ms, --s3-call-ms); DynamoDB on demand 40,000 RCU and
40,000 WCU per table (and per index); a partition 3,000 RCU / 1,000 WCU per second; S3 3,500
PUT/COPY/POST/DELETE and 5,500 GET/HEAD per second per prefix.

A partition or prefix whose key holds a user or an entity id spreads with the traffic; one that holds
only the tenant is shared by every user of that shop (a hot partition on a sale day); one with neither
is shared by every tenant (sharded keys count as many partitions as shards).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
TABLE = "imagestore-capacity"
BUCKET = "imagestore-capacity-images"
SECRET = "capacity-secret-of-at-least-32-bytes!!"
DATA_API_RPS = 1000
GOAL_RPS = 5000

API_GATEWAY_RPS = 10_000
LAMBDA_CONCURRENCY = 1_000
TABLE_RCU = TABLE_WCU = 40_000
PARTITION_RCU, PARTITION_WCU = 3_000, 1_000
S3_WRITES_PER_PREFIX, S3_READS_PER_PREFIX = 3_500, 5_500

S3_READS = {"GetObject", "HeadObject", "ListObjectsV2", "ListObjects"}
INDEXES = {"gsi1": ("gsi1pk", "gsi1sk", "ALL"), "expiry": ("xpk", "xsk", "KEYS_ONLY")}
TABLE_KEYS = ("pk", "sk")

ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "IMAGESTORE_TABLE_NAME": TABLE,
    "IMAGESTORE_BUCKET_NAME": BUCKET, "IMAGESTORE_JWT_SECRET": SECRET, "IMAGESTORE_JWT_ISSUER": "imagestore-local",
    "IMAGESTORE_JWT_AUDIENCE": "imagestore", "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "imagestore", "POWERTOOLS_SERVICE_NAME": "capacity",
    "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true",
}


# --- item sizes and capacity units ----------------------------------------------------------------

def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's accounting (wire format {"S": ...})."""
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "BS"):
        return sum(len(v.encode() if isinstance(v, str) else v) for v in data)
    if kind == "NS":
        return sum(value_size({"N": v}) for v in data)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in data.items())
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    units = float(max(1, math.ceil(size / 4096)))
    return units * 2 if transactional else units if consistent else units / 2


def write_units(size: int, transactional: bool = False) -> float:
    units = float(max(1, math.ceil(size / 1024)))
    return units * 2 if transactional else units


# --- what a request touched ----------------------------------------------------------------------

@dataclass
class Touch:
    """Capacity one request used on one partition (table or index) or one S3 prefix."""

    where: str  # "table", "index gsi1", "s3"
    key: str  # partition key value or S3 prefix
    rcu: float = 0.0
    wcu: float = 0.0
    s3_reads: int = 0
    s3_writes: int = 0


@dataclass
class Usage:
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    touches: list[Touch] = field(default_factory=list)

    @property
    def dynamodb_calls(self) -> int:
        return sum(n for name, n in self.calls.items() if name.startswith("dynamodb."))

    @property
    def s3_calls(self) -> int:
        return sum(n for name, n in self.calls.items() if name.startswith("s3."))

    def total(self, attribute: str, where: str | None = None) -> float:
        return sum(getattr(t, attribute) for t in self.touches if where is None or t.where == where)


class SdkMeter:
    """boto3 hooks on the layer's clients: counts calls and works out what each one consumed."""

    def __init__(self, plain_dynamodb: Any) -> None:
        self.plain = plain_dynamodb  # uncounted client, to read an item's old image
        self.usage = Usage()
        self.active = False

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.*.*", self._before)
        client.meta.events.register("after-call.*.*", self._after)

    @contextmanager
    def measuring(self) -> Iterator[Usage]:
        self.usage, self.active = Usage(), True
        try:
            yield self.usage
        finally:
            self.active = False

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.active:
            return
        service = model.service_model.endpoint_prefix
        context["capacity"] = {"params": _copy(params), "old": self._old_images(model.name, params)
                               if service == "dynamodb" else []}

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.active or "capacity" not in context:
            return
        service = model.service_model.endpoint_prefix
        self.usage.calls[f"{service}.{model.name}"] += 1
        params, old = context["capacity"]["params"], context["capacity"]["old"]
        if service == "s3":
            key = params.get("Key") or (params.get("Delete", {}).get("Objects") or [{}])[0].get("Key", "")
            prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else "/"
            count = len(params.get("Delete", {}).get("Objects", [])) or 1  # DeleteObjects: one per key
            reads = model.name in S3_READS
            self.usage.touches.append(Touch("s3", prefix, s3_reads=count if reads else 0,
                                            s3_writes=0 if reads else count))
        elif service == "dynamodb":
            self._dynamodb(model.name, params, parsed, old)

    def _old_images(self, operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        keys: list[tuple[str, dict[str, Any]]] = []
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            item = params.get("Key") or {k: params["Item"][k] for k in TABLE_KEYS}
            keys.append((params["TableName"], item))
        elif operation == "TransactWriteItems":
            for action in params["TransactItems"]:
                (_kind, body), = action.items()
                item = body.get("Key") or {k: body["Item"][k] for k in TABLE_KEYS}
                keys.append((body["TableName"], item))
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    body = request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
                    keys.append((table, {k: body[k] for k in TABLE_KEYS}))
        return [self.plain.get_item(TableName=t, Key=k, ConsistentRead=True).get("Item") or {} for t, k in keys]

    def _dynamodb(self, operation: str, params: dict[str, Any], parsed: dict[str, Any],
                  old: list[dict[str, Any]]) -> None:
        touches = self.usage.touches
        if operation == "GetItem":
            item = parsed.get("Item")
            touches.append(Touch("table", _s(params["Key"]["pk"]),
                                 rcu=read_units(item_size(item), bool(params.get("ConsistentRead")))))
        elif operation == "BatchGetItem":
            for table_items in parsed.get("Responses", {}).values():
                for item in table_items:
                    touches.append(Touch("table", _s(item["pk"]), rcu=read_units(item_size(item), True)))
        elif operation == "TransactGetItems":
            for response in parsed.get("Responses", []):
                item = response.get("Item") or {}
                touches.append(Touch("table", _s(item.get("pk", {"S": "?"})),
                                     rcu=read_units(item_size(item), True, transactional=True)))
        elif operation in ("Query", "Scan"):
            index = params.get("IndexName")
            size = sum(item_size(i) for i in parsed.get("Items", []))
            consistent = bool(params.get("ConsistentRead")) and not index
            touches.append(Touch(f"index {index}" if index else "table", _query_partition(params),
                                 rcu=read_units(size, consistent)))
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            new = parsed.get("Attributes") if operation == "UpdateItem" else params.get("Item")
            if operation == "UpdateItem" and params.get("ReturnValues") != "ALL_NEW":
                new = self.plain.get_item(TableName=params["TableName"], Key=params["Key"],
                                          ConsistentRead=True).get("Item")
            self._write(old[0] if old else {}, new or {}, transactional=False)
        elif operation == "TransactWriteItems":
            for action, before in zip(params["TransactItems"], old, strict=False):
                (kind, body), = action.items()
                if kind == "ConditionCheck":
                    touches.append(Touch("table", _s(body["Key"]["pk"]),
                                         rcu=read_units(item_size(before), True, transactional=True)))
                    continue
                new = body.get("Item") if kind == "Put" else None
                if kind == "Update":
                    new = self.plain.get_item(TableName=body["TableName"], Key=body["Key"],
                                              ConsistentRead=True).get("Item")
                self._write(before, new or {}, transactional=True)
        elif operation == "BatchWriteItem":
            requests = [r for rs in params["RequestItems"].values() for r in rs]
            for request, before in zip(requests, old, strict=False):
                self._write(before, request.get("PutRequest", {}).get("Item") or {}, transactional=False)

    def _write(self, old: dict[str, Any], new: dict[str, Any], transactional: bool) -> None:
        image = new or old
        pk = _s(image.get("pk", {"S": "?"}))
        self.usage.touches.append(Touch("table", pk, wcu=write_units(max(item_size(old), item_size(new)),
                                                                     transactional)))
        for index, (hash_name, range_name, projection) in INDEXES.items():
            before_key = (old.get(hash_name), old.get(range_name))
            after_key = (new.get(hash_name), new.get(range_name))
            if before_key == (None, None) and after_key == (None, None):
                continue
            projected = None if projection == "ALL" else (*TABLE_KEYS, hash_name, range_name)
            if before_key != after_key:
                for key, image_ in ((before_key, old), (after_key, new)):
                    if key[0] is not None:  # removing the old index entry, writing the new one
                        units = write_units(index_item_size(image_, projected), transactional)
                        self.usage.touches.append(Touch(f"index {index}", _s(key[0]), wcu=units))
            elif projection == "ALL" and old != new:
                size = max(index_item_size(old, projected), index_item_size(new, projected))
                self.usage.touches.append(Touch(f"index {index}", _s(after_key[0]),
                                                wcu=write_units(size, transactional)))


def index_item_size(image: dict[str, Any], projected: tuple[str, ...] | None) -> int:
    """Size of an item's copy in an index: all of it, or only the projected (key) attributes."""
    return item_size(image if projected is None else {k: v for k, v in image.items() if k in projected})


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _s(value: dict[str, Any] | None) -> str:
    return str((value or {}).get("S", "?"))


def _query_partition(params: dict[str, Any]) -> str:
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for name, placeholder in re.findall(r"([#\w]+)\s*=\s*(:\w+)", params.get("KeyConditionExpression", "")):
        attribute = names.get(name, name)
        if attribute in ("pk", "gsi1pk", "xpk"):
            return _s(values.get(placeholder))
    return "?"


# --- partition scope ------------------------------------------------------------------------------

TENANTS = ("shop-a", "shop-b")
USERS = ("alice", "bob")


def normalize(key: str) -> str:
    """A partition key or prefix with its identities replaced: T#shop-a#U#alice -> T#{tenant}#U#{user}."""
    out = key
    for tenant in TENANTS:
        out = out.replace(tenant, "{tenant}")
    for user in USERS:
        out = re.sub(rf"(?<![\w-]){user}(?![\w-])", "{user}", out)
    out = re.sub(r"[A-Za-z0-9_-]{20,}", "{id}", out)
    return re.sub(r"(?<=#)\d+(?=$|#)", "{n}", out)


def scope_of(pattern: str) -> str:
    if "{user}" in pattern or "{id}" in pattern:
        return "spread"  # one user's or one entity's
    if "{tenant}" in pattern:
        return "tenant"  # shared by every user of a shop: hot on a sale day
    return "table"  # shared by every tenant


# --- operations -----------------------------------------------------------------------------------

@dataclass
class Result:
    name: str
    usage: Usage | None
    note: str = ""


class Bench:
    """The handlers, a principal, and a way to run one operation measured."""

    def __init__(self, meter: SdkMeter, files_per_project: int) -> None:
        from imagestore.auth import Principal

        self.meter = meter
        self.alice = Principal("shop-a", "alice", "s1")
        self.files_per_project = files_per_project
        self.results: list[Result] = []

    def handler(self, module: str) -> Any:
        return importlib.import_module(module).handler

    def call(self, module: str, method: str, resource: str, *, principal: Any = None, body: Any = None,
             path_params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        from tests.support.events import api_event, call

        event = api_event(method, resource, principal=principal or self.alice, body=body, path_params=path_params,
                          headers=headers)
        return call(self.handler(module), event)

    def measure(self, name: str, run: Callable[[], tuple[int, Any]], expect: int) -> Any:
        with self.meter.measuring() as usage:
            status, body = run()
        if status != expect:
            self.results.append(Result(name, None, f"not measured: {status} {str(body)[:120]}"))
            return None
        self.results.append(Result(name, usage))
        return body


def run_operations(bench: Bench) -> None:
    from imagestore.auth import Principal
    from tests.support.files import stored_file, stored_files
    from tests.support.images import jpeg

    uploads, files, mobile = ("file_service.handlers.uploads", "file_service.handlers.files",
                              "file_service.handlers.mobile_uploads")
    projects = "project_service.handlers.projects"
    data = jpeg((640, 480))

    ticket = bench.measure("POST /uploads (request upload)", lambda: bench.call(
        uploads, "POST", "/uploads", body={"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": len(data)}),
        201)
    if ticket:
        _put_bytes(ticket["upload"]["fields"]["key"], data)
        bench.measure("POST /uploads/{id}/complete", lambda: bench.call(
            uploads, "POST", "/uploads/{fileId}/complete", path_params={"fileId": ticket["fileId"]}), 200)
    stored_files(bench.alice, 20)
    bench.measure("GET /files (page of 20)", lambda: bench.call(files, "GET", "/files"), 200)
    one = stored_file(bench.alice, data)
    bench.measure("GET /files/{id}", lambda: bench.call(files, "GET", "/files/{fileId}",
                                                        path_params={"fileId": one.file_id}), 200)
    bench.measure("DELETE /files/{id}", lambda: bench.call(files, "DELETE", "/files/{fileId}",
                                                           path_params={"fileId": one.file_id}), 204)

    n = bench.files_per_project
    held = stored_files(bench.alice, n * 2)
    first = [f.file_id for f in held[:n]]
    body = {"name": "Summer", "productType": "photobook", "document": {"pages": first}, "fileIds": first}
    project = bench.measure(f"POST /projects ({n} files)", lambda: bench.call(projects, "POST", "/projects",
                                                                              body=body), 201)
    if project:
        pid = project["projectId"]
        bench.measure(f"GET /projects/{{id}} ({n} files)", lambda: bench.call(
            projects, "GET", "/projects/{projectId}", path_params={"projectId": pid}), 200)
        swapped = first[: n // 2] + [f.file_id for f in held[n: n + n // 2]]
        update = {**body, "document": {"pages": swapped}, "fileIds": swapped}
        bench.measure(f"PUT /projects/{{id}} ({n // 2} of {n} files swapped)", lambda: bench.call(
            projects, "PUT", "/projects/{projectId}", path_params={"projectId": pid}, body=update,
            headers={"If-Match": str(project["version"])}), 200)
        bench.measure("GET /projects (page)", lambda: bench.call(projects, "GET", "/projects"), 200)
        _optional_project_operations(bench, pid)
        bench.measure(f"DELETE /projects/{{id}} ({n} files)", lambda: bench.call(
            projects, "DELETE", "/projects/{projectId}", path_params={"projectId": pid}), 204)

    opened = bench.measure("POST /mobile-uploads", lambda: bench.call(mobile, "POST", "/mobile-uploads",
                                                                      body={"retention": "session"}), 201)
    if opened:
        mid = opened["mobileUploadId"]
        phone = Principal("shop-a", "alice", "s1", (f"mobile-upload:{mid}",))
        bench.measure("authorizer: phone token (cache miss)", lambda: _authorize(opened["token"]), 200)
        bench.measure("GET /mobile-uploads/{id}/session (phone)", lambda: bench.call(
            mobile, "GET", "/mobile-uploads/{mobileUploadId}/session", principal=phone,
            path_params={"mobileUploadId": mid}), 200)
        phone_ticket = bench.measure("POST /uploads (phone)", lambda: bench.call(
            uploads, "POST", "/uploads", principal=phone,
            body={"filename": "p.jpg", "contentType": "image/jpeg", "sizeBytes": len(data)}), 201)
        if phone_ticket:
            _put_bytes(phone_ticket["upload"]["fields"]["key"], data)
            bench.measure("POST /uploads/{id}/complete (phone)", lambda: bench.call(
                uploads, "POST", "/uploads/{fileId}/complete", principal=phone,
                path_params={"fileId": phone_ticket["fileId"]}), 200)
        bench.measure("GET /mobile-uploads/{id}", lambda: bench.call(
            mobile, "GET", "/mobile-uploads/{mobileUploadId}", path_params={"mobileUploadId": mid}), 200)


def _optional_project_operations(bench: Bench, project_id: str) -> None:
    """Shares, cart items and orders, measured when their handlers exist (DESIGN.md's API)."""
    from imagestore.auth import Principal

    bob = Principal("shop-a", "bob", "s2")
    if _exists("project_service.handlers.shares"):
        shares = "project_service.handlers.shares"
        share = bench.measure("POST /projects/{id}/shares", lambda: bench.call(
            shares, "POST", "/projects/{projectId}/shares", path_params={"projectId": project_id},
            body={"mode": "copy", "expiresInDays": 7}), 201)
        if share:
            bench.measure("GET /shares/{token}", lambda: bench.call(
                shares, "GET", "/shares/{token}", principal=bob, path_params={"token": share["token"]}), 200)
            bench.measure("POST /shares/{token}/copies", lambda: bench.call(
                shares, "POST", "/shares/{token}/copies", principal=bob, path_params={"token": share["token"]}),
                201)
    else:
        bench.results.append(Result("shares (create/get/copy)", None, "not measured: no handler module yet"))
    if _exists("project_service.handlers.cart_items"):
        cart = "project_service.handlers.cart_items"
        item = bench.measure("POST /cart-items", lambda: bench.call(
            cart, "POST", "/cart-items", body={"projectId": project_id, "productSku": "photobook-a4",
                                                "quantity": 1}), 201)
        bench.measure("GET /cart-items", lambda: bench.call(cart, "GET", "/cart-items"), 200)
        if item and _exists("project_service.handlers.orders"):
            orders = "project_service.handlers.orders"
            order = bench.measure("POST /orders", lambda: bench.call(
                orders, "POST", "/orders", body={"cartItemIds": [item["cartItemId"]],
                                                 "externalOrderRef": f"o-{time.time_ns()}"}), 201)
            if order:
                bench.measure("GET /orders/{id}", lambda: bench.call(
                    orders, "GET", "/orders/{orderId}", path_params={"orderId": order["orderId"]}), 200)
    else:
        bench.results.append(Result("cart items, orders", None, "not measured: no handler module yet"))


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _authorize(token: str) -> tuple[int, Any]:
    from file_service.handlers.authorizer import handler
    from tests.support.events import LambdaContext

    event = {"type": "REQUEST", "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:a/prod/POST/uploads",
             "resource": "/uploads", "path": "/uploads", "httpMethod": "POST",
             "headers": {"Authorization": f"Bearer {token}"}, "multiValueHeaders": {}, "queryStringParameters": None,
             "pathParameters": None, "stageVariables": None,
             "requestContext": {"path": "/prod/uploads", "accountId": "123456789012", "resourceId": "r",
                                "stage": "prod", "requestId": "r1", "identity": {"sourceIp": "127.0.0.1"},
                                "resourcePath": "/uploads", "httpMethod": "POST", "apiId": "a"}}
    policy = handler(event, LambdaContext())
    return (200 if policy["policyDocument"]["Statement"][0]["Effect"] == "Allow" else 403), policy


def _put_bytes(key: str, data: bytes) -> None:
    """The client's presigned POST, done with an uncounted client (it is S3 traffic, not the handler's)."""
    import boto3

    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="image/jpeg")


# --- the model ------------------------------------------------------------------------------------

@dataclass
class Limit:
    rate: float
    what: str
    lift: str


def limits_of(usage: Usage, args: argparse.Namespace, expiry_shards: int) -> tuple[list[Limit], str]:
    """Every quota's rate for this operation (the smallest first), and a per-user note."""
    limits = [Limit(API_GATEWAY_RPS, "API Gateway 10,000 req/s (account)",
                    "ask for a higher API Gateway account quota (and cache GETs at the edge)")]
    duration_ms = args.lambda_base_ms + usage.dynamodb_calls * args.dynamodb_call_ms + usage.s3_calls * args.s3_call_ms
    limits.append(Limit(LAMBDA_CONCURRENCY * 1000 / duration_ms,
                        f"Lambda 1,000 concurrent x {duration_ms:.0f} ms",
                        "raise the Lambda concurrency quota (tens of thousands are granted); fewer calls per request"))
    for where in ("table", *(f"index {i}" for i in INDEXES)):
        rcu, wcu = usage.total("rcu", where), usage.total("wcu", where)
        if wcu:
            limits.append(Limit(TABLE_WCU / wcu, f"{where} 40,000 WCU ({wcu:g} WCU/req)",
                                "raise the table's on-demand maximum (a Service Quotas request), or write fewer "
                                "units per request: O(files) hold links and file counters in a transaction cost "
                                "2 WCU each; write them idempotently outside it"))
        if rcu:
            limits.append(Limit(TABLE_RCU / rcu, f"{where} 40,000 RCU ({rcu:g} RCU/req)",
                                "raise the table's on-demand maximum; cache reads"))
    per_user: list[str] = []
    groups: dict[tuple[str, str], list[Touch]] = defaultdict(list)
    for touch in usage.touches:
        groups[(touch.where, normalize(touch.key))].append(touch)
    for (where, pattern), touches in groups.items():
        scope = scope_of(pattern)
        rcu, wcu = sum(t.rcu for t in touches), sum(t.wcu for t in touches)
        reads, writes = sum(t.s3_reads for t in touches), sum(t.s3_writes for t in touches)
        shards = expiry_shards if "{n}" in pattern else 1
        candidates = []
        if where == "s3":
            if writes:
                candidates.append((shards * S3_WRITES_PER_PREFIX / writes, f"S3 3,500 PUT/s on {pattern}"))
            if reads:
                candidates.append((shards * S3_READS_PER_PREFIX / reads, f"S3 5,500 GET/s on {pattern}"))
        else:
            if wcu:
                candidates.append((shards * PARTITION_WCU / wcu, f"{where} partition {pattern} 1,000 WCU"
                                   + (f" x {shards} shards" if shards > 1 else "")))
            if rcu:
                candidates.append((shards * PARTITION_RCU / rcu, f"{where} partition {pattern} 3,000 RCU"
                                   + (f" x {shards} shards" if shards > 1 else "")))
        for rate, what in candidates:
            if scope == "spread":
                per_user.append(f"{rate:,.0f}/s per user or entity ({what})")
            elif scope == "tenant":
                limits.append(Limit(rate, f"HOT per tenant: {what}", f"shard {pattern} by user or a suffix"))
            else:
                lift = ("more expiry shards (IMAGESTORE_EXPIRY_SHARDS)" if "EXP#" in pattern
                        else f"shard {pattern} with a suffix")
                limits.append(Limit(rate, f"shared by all tenants: {what}", lift))
    limits.sort(key=lambda limit: limit.rate)
    per_user.sort(key=lambda text: float(text.split("/")[0].replace(",", "")))
    return limits, per_user[0] if per_user else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files-per-project", type=int, default=10)
    parser.add_argument("--lambda-base-ms", type=float, default=15.0, help="warm handler time without AWS calls")
    parser.add_argument("--dynamodb-call-ms", type=float, default=6.0)
    parser.add_argument("--s3-call-ms", type=float, default=20.0)
    args = parser.parse_args(argv)

    for name in [n for n in os.environ if n.startswith(("AWS_ENDPOINT_URL", "IMAGESTORE_"))]:
        del os.environ[name]
    os.environ.update(ENV)
    for directory in ("layer", "services/file", "services/project", "services/scheduler", "."):
        sys.path.insert(0, str(ROOT / directory))

    import boto3
    from moto import mock_aws

    from imagestore.config import get_settings
    from imagestore.data import factory
    from imagestore.data.clients import dynamodb_client, s3_client
    from tests.support.cfn import create_bucket, create_table

    started = time.monotonic()
    with mock_aws():
        factory.reset()
        ddb, s3 = dynamodb_client(), s3_client()
        create_table(ddb, TABLE)
        create_bucket(s3, BUCKET, REGION)
        meter = SdkMeter(boto3.client("dynamodb", region_name=REGION))
        meter.attach(ddb)
        meter.attach(s3)
        bench = Bench(meter, args.files_per_project)
        run_operations(bench)
        shards = get_settings().expiry_shards
    print_table(bench.results, args, shards)
    print(f"\n({time.monotonic() - started:.0f} s against moto; CU computed from item sizes, see the module doc)")
    return 0


def print_table(results: list[Result], args: argparse.Namespace, shards: int) -> None:
    print("Capacity per API operation: requests counted through the SDK against moto; CU from item sizes.")
    print(f"Lambda duration assumed {args.lambda_base_ms:g} ms + {args.dynamodb_call_ms:g} ms per DynamoDB call "
          f"+ {args.s3_call_ms:g} ms per S3 call; expiry index sharded {shards} ways; the Aurora Data API "
          f"stopped at {DATA_API_RPS:,} req/s.\n")
    header = (f"{'operation':44} {'DDB':>3} {'S3':>3} {'RCU':>6} {'WCU':>6} {'idxWCU':>6} "
              f"{'max req/s':>10} {'xDataAPI':>8}  first limit")
    print(header)
    print("-" * len(header))
    flagged: list[str] = []
    for result in results:
        if result.usage is None:
            print(f"{result.name:44} {result.note}")
            continue
        usage = result.usage
        limits, per_user = limits_of(usage, args, shards)
        first = limits[0]
        index_wcu = sum(usage.total("wcu", f"index {i}") for i in INDEXES)
        mark = " !" if first.rate < GOAL_RPS else ""
        print(f"{result.name:44} {usage.dynamodb_calls:3d} {usage.s3_calls:3d} {usage.total('rcu'):6g} "
              f"{usage.total('wcu', 'table'):6g} {index_wcu:6g} {first.rate:10,.0f} "
              f"{first.rate / DATA_API_RPS:7.1f}x  {first.what}{mark}")
        calls = ", ".join(f"{name.split('.', 1)[1]} x{n}" if n > 1 else name.split(".", 1)[1]
                          for name, n in sorted(usage.calls.items()))
        print(f"{'':44}   calls: {calls or 'none'}")
        print(f"{'':44}   next: {limits[1].what} at {limits[1].rate:,.0f}/s; per user: {per_user}")
        if first.rate < GOAL_RPS:
            flagged.append(f"{result.name}: {first.what} at {first.rate:,.0f} req/s -> {first.lift}")
    print()
    if flagged:
        print(f"Below {GOAL_RPS:,} req/s (first limit and the change that lifts it):")
        for line in flagged:
            print(f"  ! {line}")
    else:
        print(f"No operation meets a limit below {GOAL_RPS:,} req/s.")


if __name__ == "__main__":
    sys.exit(main())
