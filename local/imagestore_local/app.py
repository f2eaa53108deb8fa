"""Starts and stops the whole local stack: backends, resources, environment, gateway, schedules."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from imagestore_local.backends import Backends, DynamoDBSnapshot
from imagestore_local.clock import LocalClock
from imagestore_local.cloudformation import Intrinsics, create_resources, environment_of
from imagestore_local.config_loader import DEFAULT_REGION, Project, find_root
from imagestore_local.faults import ENV as FAULTS_ENV
from imagestore_local.faults import Faults
from imagestore_local.gateway import Gateway, StackInfo
from imagestore_local.lambda_runtime import LambdaRuntime
from imagestore_local.processes import free_port
from imagestore_local.routing import build_routes
from imagestore_local.s3_events import FilerEvents, S3Notifier, s3_targets
from imagestore_local.scheduler import EventBus, QueueRule, ScheduleRunner, bus_name, rules_of, schedules_of
from imagestore_local.seaweedfs import local_cors_rules
from imagestore_local.sqs import LocalSqs, Queue, _get_att_target, build_local_sqs, queue_rule_specs, sqs_sources
from imagestore_local.streams import StreamPoller
from imagestore_local.ttl import TtlReaper, TtlTable, stream_targets, ttl_table

log = logging.getLogger("imagestore_local")

DEFAULT_PORT = 3000
DEFAULT_JWT_SECRET = "local-dev-secret-change-me"
# A bucket of the local stack's own: an object written there shows that the S3 event stream is live.
EVENTS_PROBE_BUCKET = "imagestore-local-events-probe"
JWT_DEFAULTS = {"IMAGESTORE_JWT_ISSUER": "imagestore-local", "IMAGESTORE_JWT_AUDIENCE": "imagestore"}
# Set by the local stack (or the shell), never by a service's environment: local JWT settings, the
# Parameters and Secrets extension (served by the gateway), and the emulator endpoints.
LOCAL_OWNED = frozenset(
    {
        "IMAGESTORE_JWT_SECRET",
        "IMAGESTORE_JWT_ISSUER",
        "IMAGESTORE_JWT_AUDIENCE",
        "IMAGESTORE_PUBLIC_BASE_URL",
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_EVENTBRIDGE",
        "AWS_ENDPOINT_URL_LAMBDA",
        "AWS_ENDPOINT_URL_SQS",
    }
)


def data_dir(root: Path) -> Path:
    """IMAGESTORE_LOCAL_DATA, or <root>/.local-data."""
    return Path(os.environ.get("IMAGESTORE_LOCAL_DATA") or root / ".local-data").resolve()


def prepare_data_dir(path: Path) -> None:
    """Create the data folder, git-ignored by its own .gitignore."""
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# imagestore local stack data (imagestore-local reset deletes it)\n*\n", encoding="utf-8")


def apply_jwt_defaults() -> None:
    """Set the local JWT settings when the shell did not."""
    if not os.environ.get("IMAGESTORE_JWT_SECRET"):
        os.environ["IMAGESTORE_JWT_SECRET"] = DEFAULT_JWT_SECRET
        log.info("IMAGESTORE_JWT_SECRET not set; using the local default %r", DEFAULT_JWT_SECRET)
    for name, value in JWT_DEFAULTS.items():
        os.environ.setdefault(name, value)


@dataclass
class Stack:
    """The running local stack."""

    root: Path
    stage: str = "local"
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    concurrency: str | None = None  # IMAGESTORE_LOCAL_CONCURRENCY's format (lambda_runtime.py)
    project: Project = field(init=False)
    backends: Backends = field(init=False)
    server: BaseWSGIServer | None = None
    _stoppers: list[Any] = field(default_factory=list)
    _stopped: bool = False

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start everything except serving (call serve_forever after)."""
        data = data_dir(self.root)
        prepare_data_dir(data)
        shell_env = set(os.environ)
        os.environ.setdefault("IMAGESTORE_PUBLIC_BASE_URL", self.base_url)
        apply_jwt_defaults()
        clock = LocalClock(data)
        clock.load()

        self.project = Project(self.root, stage=self.stage, region=os.environ.get("AWS_DEFAULT_REGION"))
        services = self.project.services()
        if not services:
            raise RuntimeError(f"no services/*/serverless.yml under {self.root}")
        region = services[0].region or DEFAULT_REGION

        self.backends = Backends(
            root=self.root,
            data_dir=data,
            region=region,
            s3_port=_int_env("IMAGESTORE_LOCAL_S3_PORT") or self.port + 1,
            dynamodb_port=_int_env("IMAGESTORE_LOCAL_DYNAMODB_PORT") or self.port + 2,
        )
        self._stoppers.append(self.backends.stop)
        self.backends.start()

        dynamodb, s3 = self.backends.client("dynamodb"), self.backends.client("s3")
        buckets: list[str] = []
        tables: list[str] = []
        ttl_tables: list[TtlTable] = []
        for service in services:
            found = create_resources(service, dynamodb, s3)
            buckets += found["buckets"]
            tables += found["tables"]
            ttl_tables += [t for name, props in found["tables"].items() if (t := ttl_table(name, props)) is not None]
            if self.backends.seaweedfs is not None:
                self._apply_bucket_cors(service, s3)

        if self.backends.dynamodb_kind == "moto":
            ddb_snapshot = DynamoDBSnapshot(dynamodb, data / "moto-dynamodb", tables)
            restored = ddb_snapshot.restore()
            if restored:
                log.info("restored %d DynamoDB items into moto", restored)
            self._stoppers.append(ddb_snapshot.save)

        own_env = self._apply_environment(services, shell_env)

        functions = [fn for service in services for fn in service.functions.values()]
        if Faults.parse(os.environ.get(FAULTS_ENV)) is not None:  # a malformed spec stops the start (ValueError)
            log.warning("fault mode: %s=%s (local/README.md)", FAULTS_ENV, os.environ[FAULTS_ENV])
        runtime = LambdaRuntime(
            functions, data / "dead-letters", self.concurrency, lambda fn: own_env[(fn.service.key, fn.key)]
        )
        self._stoppers.append(runtime.stop)
        self._start_s3_events(services, runtime, s3, region)
        sqs, queues = build_local_sqs(services, self.base_url, region)
        event_bus = EventBus(
            [rule for fn in functions for rule in rules_of(fn)],
            runtime,
            region,
            self._queue_rules(services, sqs, queues),
        )
        for fn in functions:
            for logical_id, batch_size in sqs_sources(fn):
                queue = queues.get((fn.service.key, logical_id))
                if queue is None:
                    log.warning("%s/%s: no queue %s in its service", fn.service.key, fn.key, logical_id)
                    continue
                sqs.start_mapping(queue, fn, batch_size, runtime.invoke)
                log.info("SQS: %s -> %s/%s (batches of %d)", queue.name, fn.service.key, fn.key, batch_size)
        self._stoppers.append(sqs.stop)
        routes = build_routes(self.project)
        info = StackInfo(
            stage=self.stage,
            region=region,
            dynamodb=self.backends.dynamodb_kind,
            s3=self.backends.s3_kind,
            data_dir=str(data),
            extra={
                "endpoints": {"dynamodb": self.backends.dynamodb_endpoint, "s3": self.backends.s3_endpoint},
                "tables": tables,
                "buckets": buckets,
            },
        )
        reaper = TtlReaper(
            dynamodb, ttl_tables, [t for fn in functions for t in stream_targets(fn)], runtime.invoke, region
        )
        streams = StreamPoller(
            dynamodb,
            self.backends.client("dynamodbstreams"),
            [t for fn in functions for t in stream_targets(fn)],
            runtime.invoke,
            send_to_queue=lambda fn, destination, body: _send_to_local_queue(sqs, queues, fn, destination, body),
        )
        gateway = Gateway(self.project, routes, runtime, event_bus, clock, info, ttl=reaper, sqs=sqs)
        self.server = make_server(self.host, self.port, gateway, threaded=True)
        self.server.daemon_threads = True  # type: ignore[attr-defined]
        self._stoppers.append(self._shutdown_server)
        schedules = ScheduleRunner([s for fn in functions for s in schedules_of(fn)], runtime)
        schedules.start()
        self._stoppers.append(schedules.stop)
        reaper.start()
        self._stoppers.append(reaper.stop)
        streams.start()
        self._stoppers.append(streams.stop)
        marker = data / "stack.json"
        marker.write_text(json.dumps({"pid": os.getpid(), "url": self.base_url}), encoding="utf-8")
        self._stoppers.append(lambda: marker.unlink(missing_ok=True))
        self._banner(routes_count=len(routes), data=data)

    @staticmethod
    def _queue_rules(services: list[Any], sqs: LocalSqs, queues: dict[tuple[str, str], Queue]) -> list[QueueRule]:
        """EventBridge rules (AWS::Events::Rule resources) whose target is one of the stack's queues."""
        rules = []
        for service in services:
            intrinsics = Intrinsics(service)
            for rule_id, pattern, bus, queue_id in queue_rule_specs(service):
                queue = queues[(service.key, queue_id)]
                rules.append(
                    QueueRule(
                        name=rule_id,
                        pattern=pattern,
                        bus=bus_name(intrinsics.evaluate(bus)),
                        queue=queue.name,
                        send=lambda body, q=queue: sqs.send(q, body),
                    )
                )
        return rules

    def _apply_bucket_cors(self, service: Any, s3: Any) -> None:
        """Each bucket's CorsConfiguration, at every start, in the form SeaweedFS matches (seaweedfs.py)."""
        intrinsics = Intrinsics(service)
        origins = [self.base_url, self.base_url.replace("127.0.0.1", "localhost")]
        for logical_id, resource in service.resources.items():
            if resource.get("Type") != "AWS::S3::Bucket":
                continue
            config = intrinsics.evaluate((resource.get("Properties") or {}).get("CorsConfiguration") or {})
            rules = local_cors_rules(list(config.get("CorsRules") or []), origins)
            name = intrinsics.physical_name(logical_id)
            if rules:
                s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
            else:
                with contextlib.suppress(s3.exceptions.ClientError):
                    s3.delete_bucket_cors(Bucket=name)

    def _start_s3_events(self, services: list[Any], runtime: LambdaRuntime, s3: Any, region: str) -> None:
        """ObjectCreated events of SeaweedFS's buckets to the functions the services subscribe to them."""
        targets = [target for service in services for target in s3_targets(service)]
        if not targets:
            return
        names = ", ".join(sorted({f"{t.fn.service.key}/{t.fn.key} <- {t.bucket}" for t in targets}))
        seaweed = self.backends.seaweedfs
        if seaweed is None:
            log.warning(
                "S3 events are not delivered by %s (targets: %s); only SeaweedFS's are", self.backends.s3_kind, names
            )
            return
        events = FilerEvents(
            seaweed.weed,
            seaweed.filer_address,
            S3Notifier(targets, runtime, region),
            self.backends.data_dir / "logs" / "s3-events.log",
            operations=self.backends.s3_front.operation if self.backends.s3_front else None,
        )
        self._stoppers.append(events.stop)

        def probe() -> tuple[str, str]:
            key = f"probe/{uuid.uuid4().hex}"
            s3.put_object(Bucket=EVENTS_PROBE_BUCKET, Key=key, Body=b"")
            return EVENTS_PROBE_BUCKET, key

        existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
        if EVENTS_PROBE_BUCKET not in existing:
            s3.create_bucket(Bucket=EVENTS_PROBE_BUCKET, CreateBucketConfiguration={"LocationConstraint": region})
        events.start(probe)
        log.info("S3 events: %s", names)

    def _apply_environment(self, services: list[Any], shell_env: set[str]) -> dict[tuple[str, str], dict[str, str]]:
        """os.environ from every service's provider and function environment (shell values win: what the
        stack's own code reads); returns each function's own variables, which its workers get over it."""
        origin: dict[str, str] = {}
        own: dict[tuple[str, str], dict[str, str]] = {}
        for service in services:
            values = environment_of(service)
            for fn in service.functions.values():
                mine = environment_of(service, fn.environment)
                own[(service.key, fn.key)] = {
                    name: value for name, value in mine.items() if name not in LOCAL_OWNED and name not in shell_env
                }
                values.update(mine if fn.environment else {})
            for name, value in values.items():
                if name in LOCAL_OWNED:
                    if os.environ.get(name) != value:
                        log.info("env %s=%r of %s not applied: the local stack sets it", name, value, service.key)
                    continue
                if name in shell_env and not name.startswith("AWS_ENDPOINT_URL"):
                    if os.environ[name] != value:
                        log.info("env %s kept from the shell (%s would set %r)", name, service.key, value)
                    continue
                if name in origin and os.environ.get(name) != value:
                    log.info(
                        "env %s=%r of %s overrides %r of %s (one process serves every service)",
                        name,
                        value,
                        service.key,
                        os.environ.get(name),
                        origin[name],
                    )
                os.environ[name] = value
                origin[name] = service.key
        defaults = {
            "IMAGESTORE_STAGE": self.stage,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "imagestore",
            "AWS_XRAY_SDK_ENABLED": "false",
            "AWS_ENDPOINT_URL_EVENTBRIDGE": f"{self.base_url}/_local/events",
            "AWS_ENDPOINT_URL_LAMBDA": f"{self.base_url}/_local/lambda",
            "AWS_ENDPOINT_URL_SQS": f"{self.base_url}/_local/sqs",
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(self.port),
        }
        for name, value in defaults.items():
            os.environ.setdefault(name, value)
        for name in ("IMAGESTORE_TABLE_NAME", "IMAGESTORE_BUCKET_NAME"):
            if not os.environ.get(name):
                log.warning("%s is not set by any service's provider.environment", name)
        return own

    def _banner(self, routes_count: int, data: Path) -> None:
        """Tell the user where things are."""
        lines = [
            "",
            f"imagestore local stack ({self.stage}) at {self.base_url}  ({routes_count} routes: GET /_local/routes)",
            f"  DynamoDB: {self.backends.dynamodb_kind} {self.backends.dynamodb_endpoint}"
            f"   table {os.environ.get('IMAGESTORE_TABLE_NAME')}",
            f"  S3:       {self.backends.s3_kind} {self.backends.s3_endpoint}"
            f"   bucket {os.environ.get('IMAGESTORE_BUCKET_NAME')}",
            f"  data:     {data}  (imagestore-local reset deletes it)",
            "  token:    TOKEN=$(imagestore-local token --tenant t1 --user u1)",
            f'            curl -H "Authorization: Bearer $TOKEN" {self.base_url}/files',
            f"  admin:    {self.base_url}/_local/health, /_local/clock, /_local/events, "
            "/_local/functions/<service>/<function>/invoke, /_local/ttl",
            "",
        ]
        print("\n".join(lines), flush=True)

    def _shutdown_server(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def serve_forever(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop everything."""
        assert self.server is not None
        stop = threading.Event()

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("%s received; stopping", signal.Signals(signum).name)
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)
        thread.start()
        try:
            while not stop.wait(0.5):
                if not thread.is_alive():
                    log.error("HTTP server stopped unexpectedly")
                    break
                for child in self.backends.children:
                    if not child.alive():
                        log.error("%s exited unexpectedly; see %s", child.name, child.log_path)
                        stop.set()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Stop in reverse start order; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for stopper in reversed(self._stoppers):
            try:
                stopper()
            except Exception:
                log.exception("error while stopping (%s)", getattr(stopper, "__qualname__", stopper))
        log.info("stopped")


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def run(port: int | None = None, stage: str = "local", root: Path | None = None, concurrency: str | None = None) -> int:
    """`imagestore-local run`."""
    chosen = port or _int_env("PORT") or DEFAULT_PORT
    if free_port(chosen) != chosen:
        log.error("port %d is in use (set --port or PORT)", chosen)
        return 1
    stack = Stack(root=root or find_root(), stage=stage, port=chosen, concurrency=concurrency)
    try:
        stack.start()
    except BaseException:
        log.exception("the local stack could not start")
        stack.stop()
        return 1
    stack.serve_forever()
    return 0


def _send_to_local_queue(
    sqs: LocalSqs, queues: dict[tuple[str, str], Queue], fn: Any, destination: Any, body: str
) -> bool:
    """A stream event's on-failure destination: a queue of the function's own service (its GetAtt)."""
    logical_id = _get_att_target(destination)
    queue = queues.get((fn.service.key, logical_id)) if logical_id else None
    if queue is None:
        return False
    sqs.send(queue, body)
    return True
