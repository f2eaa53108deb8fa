"""Cold start of every function, as a ratio to a bare boto3 baseline (`make bench`).

For each function of services/*/serverless.yml, a fresh interpreter imports the handler module and
serves one request (an event like the one API Gateway, S3 or EventBridge sends). Interleaved with it,
a fresh interpreter does the baseline: `import boto3` and creating the DynamoDB and S3 clients.
Each child measures itself from its first line of code (interpreter start-up, the same for both, is
reported apart as the process wall time). The ratio of each function is the median over --rounds
of (its run / the baseline run just before it): pairing cancels the drift of a shared machine, whose
speed varies by 10-20 % from minute to minute. Target: ratio <= 1.5.

The children run with the environment a Lambda execution environment has (LAMBDA_TASK_ROOT,
AWS_LAMBDA_FUNCTION_NAME, a trace header) plus the function's own from its serverless.yml
(POWERTOOLS_TRACE_DISABLED included: `--xray-sdk` measures a stage that traces with the X-Ray SDK),
so Powertools and the X-Ray SDK behave as in Lambda. Their AWS calls go to a moto server started
here on 127.0.0.1 with the table and bucket of services/file/serverless.yml (a plain-HTTP local round
trip: no TLS handshake, which a real first call pays too). Missing handler modules (functions still
being written) are listed, not timed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("file", "project", "scheduler")
REGION = "eu-west-1"
TABLE = "imagestore-bench"
BUCKET = "imagestore-bench-images"
SECRET = "bench-secret-of-at-least-32-bytes-long!!"
TARGET_RATIO = 1.5

BASELINE = """
import time
started = time.perf_counter()
import boto3
boto3.client("dynamodb")
boto3.client("s3")
elapsed = time.perf_counter() - started
import json
print(json.dumps({"total_ms": elapsed * 1000}))
"""

HANDLER = """
import json, sys
event = json.loads(sys.stdin.read())
import time
started = time.perf_counter()
import importlib
module = importlib.import_module(sys.argv[1])
imported = time.perf_counter()

class Context:
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-0000-0000-000000000001"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 10000

outcome = "ok"
try:
    result = getattr(module, sys.argv[2])(event, Context())
    if isinstance(result, dict) and "statusCode" in result:
        outcome = str(result["statusCode"])
except Exception as exc:  # the authorizer refuses by raising; anything else is reported
    outcome = type(exc).__name__
served = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "total_ms": (served - started) * 1000,
                  "outcome": outcome}))
"""

# Request bodies of the first route of each function, as docs/design.md describes the API.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/uploads"): {"filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 1000},
    ("POST", "/mobile-uploads"): {"retention": "session"},
    ("POST", "/projects"): {"name": "p", "productType": "photobook", "document": {}, "fileIds": []},
    ("POST", "/projects/{projectId}/shares"): {"mode": "view", "expiresInDays": 7},
    ("POST", "/cart-items"): {"productSku": "poster-a2", "quantity": 1},
    ("POST", "/orders"): {"cartItemIds": ["01jzzzzzzzzzzzzzzzzzzzzzzz"], "externalOrderRef": "bench-1"},
}


@dataclass
class Function:
    service: str
    key: str
    module: str
    attribute: str
    event: dict[str, Any]
    environment: dict[str, str]
    runs: list[float] = field(default_factory=list)
    imports: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    outcomes: set[str] = field(default_factory=set)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _token() -> str:
    import jwt

    now = int(time.time())
    claims = {
        "sub": "u1",
        "tid": "t1",
        "sid": "s1",
        "iat": now,
        "exp": now + 3600,
        "iss": "imagestore-bench",
        "aud": "imagestore",
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _api_event(method: str, resource: str) -> dict[str, Any]:
    params = {name: "01jzzzzzzzzzzzzzzzzzzzzzzz" for name in _path_params(resource)}
    path = resource
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    body = BODIES.get((method, resource))
    principal = {"principalId": "t1|u1", "tenantId": "t1", "userId": "u1", "sessionId": "s1", "scope": ""}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/bench{path}",
            "stage": "bench",
            "requestId": "r-1",
            "accountId": "123456789012",
            "apiId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": principal,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def _path_params(resource: str) -> list[str]:
    return [part[1:-1].rstrip("+") for part in resource.split("/") if part.startswith("{")]


def event_for(key: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The event the function's first trigger would send."""
    for trigger in events:
        if "http" in trigger:
            http = trigger["http"]
            return _api_event(str(http["method"]).upper(), "/" + str(http["path"]).lstrip("/"))
        if "schedule" in trigger:
            spec = trigger["schedule"]
            if isinstance(spec, dict) and isinstance(spec.get("input"), dict):
                if spec["input"].get("detail", {}).get("fanOut"):
                    # The sweep's rule starts a fan-out run, which only invokes one run per group of shards:
                    # what is measured is such a group's run (the first of sweepGroups).
                    from benchmarks.capacity import sweep_groups

                    return {"detail": {"group": 0, "groups": sweep_groups()}}
                return dict(spec["input"])  # a rule with a constant input sends it instead of the event
            return {
                "version": "0",
                "id": "e-1",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "2026-01-01T00:00:00Z",
                "region": REGION,
                "resources": [],
                "detail": {},
            }
        if "eventBridge" in trigger:
            pattern = trigger["eventBridge"].get("pattern", {})
            source = (pattern.get("source") or ["imagestore.bench"])[0]
            detail_type = (pattern.get("detail-type") or ["Bench"])[0]
            return {
                "version": "0",
                "id": "e-1",
                "detail-type": detail_type,
                "source": source,
                "account": "123456789012",
                "time": "2026-01-01T00:00:00Z",
                "region": REGION,
                "resources": [],
                "detail": {"tenantId": "t1", "userId": "u1", "sessionId": "s1"},
            }
        if "stream" in trigger or "sqs" in trigger:
            return {"Records": []}
    if key == "authorizer":
        return {
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:bench/bench/GET/files",
            "resource": "/files",
            "path": "/files",
            "httpMethod": "GET",
            "headers": {"Authorization": f"Bearer {_token()}"},
            "multiValueHeaders": {},
            "queryStringParameters": None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "path": "/bench/files",
                "accountId": "123456789012",
                "resourceId": "r",
                "stage": "bench",
                "requestId": "r-1",
                "identity": {"sourceIp": "127.0.0.1"},
                "resourcePath": "/files",
                "httpMethod": "GET",
                "apiId": "bench",
            },
        }
    # S3 ObjectCreated (objectCreated): an object without a file record (one GetItem, then "orphan").
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-01-01T00:00:00.000Z",
                "eventName": "ObjectCreated:Post",
                "userIdentity": {"principalId": "x"},
                "requestParameters": {"sourceIPAddress": "1.2.3.4"},
                "responseElements": {"x-amz-request-id": "x", "x-amz-id-2": "x"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "c",
                    "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "x"}, "arn": f"arn:aws:s3:::{BUCKET}"},
                    "object": {"key": "t1/u1/01jzzzzzzzzzzzzzzzzzzzzzzz", "size": 1000, "eTag": "e", "sequencer": "1"},
                },
            }
        ]
    }


def discover() -> tuple[list[Function], list[str]]:
    """The functions of every service (handler module importable or not)."""
    from tests.support.cfn import service_definition

    functions, missing = [], []
    for service in SERVICES:
        definition = service_definition(service)
        for key, spec in (definition.get("functions") or {}).items():
            module_path, _, attribute = str(spec["handler"]).rpartition(".")
            module = module_path.replace("/", ".")
            source = ROOT / "services" / service / (module_path + ".py")
            if not source.exists():
                missing.append(f"{service}/{key} ({module})")
                continue
            env = {
                **template_environment(definition, spec),
                "IMAGESTORE_STAGE": "bench",
                "IMAGESTORE_TABLE_NAME": TABLE,
                "IMAGESTORE_BUCKET_NAME": BUCKET,
                "IMAGESTORE_JWT_SECRET": SECRET,
                "IMAGESTORE_JWT_ISSUER": "imagestore-bench",
                "IMAGESTORE_JWT_AUDIENCE": "imagestore",
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": "imagestore",
                "AWS_LAMBDA_FUNCTION_NAME": f"bench-{key}",
            }
            functions.append(Function(service, key, module, attribute, event_for(key, spec.get("events") or []), env))
    return functions, missing


def template_environment(definition: dict[str, Any], spec: dict[str, Any]) -> dict[str, str]:
    """The function's environment as its serverless.yml sets it (provider's, then its own), where a
    value is a plain string or a `${param:name}` of the default params; references to resources
    (table, bucket, secrets) are left out: the benchmark sets its own."""
    params = (definition.get("params") or {}).get("default") or {}
    env: dict[str, str] = {}
    for source in ((definition.get("provider") or {}).get("environment") or {}, spec.get("environment") or {}):
        for name, value in source.items():
            if not isinstance(value, str | int | bool):
                continue
            text = str(value)
            match = re.fullmatch(r"\$\{param:(\w+)(?:,\s*'([^']*)')?\}", text)
            if match:
                text = str(params.get(match.group(1), match.group(2) or ""))
            if "${" not in text:
                env[name] = text
    return env


def base_environment(endpoint: str) -> dict[str, str]:
    """A Lambda execution environment's variables, with AWS pointed at the local moto server."""
    pythonpath = os.pathsep.join(
        str(ROOT / p) for p in ("layer", "services/file", "services/project", "services/scheduler")
    )
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {
        **keep,
        "PYTHONPATH": pythonpath,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server subprocess with the table and bucket of services/file/serverless.yml."""
    import boto3
    import requests

    from tests.support.cfn import create_bucket, create_table

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.2)
        creds: dict[str, Any] = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": REGION}
        create_table(boto3.client("dynamodb", endpoint_url=endpoint, **creds), TABLE)
        create_bucket(boto3.client("s3", endpoint_url=endpoint, **creds), BUCKET, REGION)
        yield endpoint
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()


def run_child(code: str, env: dict[str, str], args: list[str], stdin: str = "") -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    wall = (time.perf_counter() - started) * 1000
    lines = [line for line in completed.stdout.splitlines() if line.startswith('{"')]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"child failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return json.loads(lines[-1]), wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9, help="runs of every function (and of the baseline)")
    parser.add_argument("--only", default="", help="comma-separated function keys to measure")
    parser.add_argument(
        "--xray-sdk",
        action="store_true",
        help="trace with the X-Ray SDK (POWERTOOLS_TRACE_DISABLED=false), as a stage that turns it on",
    )
    parser.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="serve this event instead of the first trigger's, e.g. sweep='{}' (a sweep invoked by "
        "hand: every shard); repeatable",
    )
    args = parser.parse_args(argv)
    events: dict[str, Any] = {}
    for option in args.event:
        key, _, text = option.partition("=")
        try:
            events[key] = json.loads(text)
        except json.JSONDecodeError as exc:
            parser.error(f"--event {key}: not JSON ({exc})")
    baseline: list[float] = []
    baseline_walls: list[float] = []
    with moto_server() as endpoint:
        functions, missing = discover()
        if args.only:
            functions = [f for f in functions if f.key in args.only.split(",")]
        env = base_environment(endpoint)
        for fn in functions if args.xray_sdk else []:
            fn.environment["POWERTOOLS_TRACE_DISABLED"] = "false"
        unknown = set(events) - {fn.key for fn in functions}
        if unknown:
            parser.error(f"--event: no function {', '.join(sorted(unknown))} among those measured")
        for fn in functions:
            fn.event = events.get(fn.key, fn.event)
        print(
            f"cold start: {len(functions)} functions x {args.rounds} rounds, each interleaved with a baseline "
            f"(moto server {endpoint})",
            flush=True,
        )
        for round_number in range(args.rounds):
            order = functions[:]
            random.shuffle(order)
            for fn in order:
                figures, wall = run_child(BASELINE, env, [])
                paired = figures["total_ms"]
                baseline.append(paired)
                baseline_walls.append(wall)
                figures, wall = run_child(
                    HANDLER, {**env, **fn.environment}, [fn.module, fn.attribute], json.dumps(fn.event)
                )
                fn.runs.append(figures["total_ms"])
                fn.ratios.append(figures["total_ms"] / paired)
                fn.imports.append(figures["import_ms"])
                fn.walls.append(wall)
                fn.outcomes.add(figures["outcome"])
            print(f"  round {round_number + 1}/{args.rounds} done", flush=True)
    base = statistics.median(baseline)
    print(
        f"\nbaseline (import boto3 + DynamoDB and S3 clients): median {base:.0f} ms "
        f"(process wall {statistics.median(baseline_walls):.0f} ms), {len(baseline)} runs"
    )
    print(
        f"{'function':32} {'import ms':>9} {'import+1st request ms':>22} {'wall ms':>8} {'ratio':>6} "
        f"{'(paired min-max)':>16}  outcome"
    )
    worst = 0.0
    for fn in sorted(functions, key=lambda f: (f.service, f.key)):
        ratio = statistics.median(fn.ratios)
        worst = max(worst, ratio)
        flag = "" if ratio <= TARGET_RATIO else f"  > {TARGET_RATIO}"
        spread = f"{min(fn.ratios):.2f}-{max(fn.ratios):.2f}"
        print(
            f"{fn.service + '/' + fn.key:32} {statistics.median(fn.imports):9.0f} "
            f"{statistics.median(fn.runs):22.0f} {statistics.median(fn.walls):8.0f} {ratio:6.2f} {spread:>16}  "
            f"{','.join(sorted(fn.outcomes))}{flag}"
        )
    for name in missing:
        print(f"{name:32} not measured: the handler module does not exist yet")
    print(f"\nworst ratio {worst:.2f} (target <= {TARGET_RATIO})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
