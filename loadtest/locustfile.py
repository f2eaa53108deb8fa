"""imagestore under sale-day load: Locust users, the load shape, and the pass/fail verdict.

    locust -f loadtest/locustfile.py --headless --host http://127.0.0.1:3000 -u 50 -t 60s \
        --csv reports/run/loadtest --csv-full-history --html reports/run/report.html --min-rps 20

Every option below also reads an environment variable (LOADTEST_*). See docs/loadtest.md.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locust import FastHttpUser, LoadTestShape, between, events, task
from locust.runners import MasterRunner, WorkerRunner

from loadtest import identity, payloads
from loadtest.shapes import Spike, SteadyRamp, Step, fit_to_run_time
from loadtest.verdict import (
    ThresholdError,
    Thresholds,
    build_thresholds,
    endpoints_from_stats,
    evaluate,
    mark_throttled,
)

log = logging.getLogger("imagestore.loadtest")

DEFAULT_WEIGHTS = "upload=6,mobile=1,browse=3"  # sale day: most visitors upload photos into a product
MAX_PROJECT_FILES = 24


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument(
        "--file-host", default="", env_var="LOADTEST_FILE_HOST", help="base URL of the File API (default: --host)"
    )
    parser.add_argument(
        "--project-host",
        default="",
        env_var="LOADTEST_PROJECT_HOST",
        help="base URL of the Project API (default: --host)",
    )
    parser.add_argument(
        "--weights",
        default=DEFAULT_WEIGHTS,
        env_var="LOADTEST_WEIGHTS",
        help=f"user mix upload=N,mobile=N,browse=N (default {DEFAULT_WEIGHTS})",
    )
    parser.add_argument(
        "--think-time",
        default="0.5,2.0",
        env_var="LOADTEST_THINK_TIME",
        help="MIN,MAX seconds a user waits between actions",
    )
    parser.add_argument(
        "--files-per-visit",
        type=int,
        default=2,
        env_var="LOADTEST_FILES_PER_VISIT",
        help="photos an upload user adds per visit before saving the project",
    )
    parser.add_argument(
        "--image-sizes",
        default="320x240,800x600,1600x1200",
        env_var="LOADTEST_IMAGE_SIZES",
        help="JPEGs generated at start, WIDTHxHEIGHT,...",
    )
    parser.add_argument(
        "--jwt-secret",
        default=identity.LOCAL_SECRET,
        env_var="IMAGESTORE_JWT_SECRET",
        is_secret=True,
        help="HS256 secret of the target (default: the local stack's)",
    )
    parser.add_argument("--jwt-issuer", default=identity.LOCAL_ISSUER, env_var="IMAGESTORE_JWT_ISSUER")
    parser.add_argument("--jwt-audience", default=identity.LOCAL_AUDIENCE, env_var="IMAGESTORE_JWT_AUDIENCE")
    parser.add_argument(
        "--tenants", type=int, default=10, env_var="LOADTEST_TENANTS", help="tenants the minted users are spread over"
    )
    parser.add_argument(
        "--token-file",
        default="",
        env_var="LOADTEST_TOKEN_FILE",
        help="file of bearer tokens, one a line (a deployed stage's users), instead of minting",
    )
    # load shape
    parser.add_argument("--shape", choices=["steady", "spike"], default="steady", env_var="LOADTEST_SHAPE")
    parser.add_argument("--ramp", type=float, default=10.0, env_var="LOADTEST_RAMP", help="seconds to reach --users")
    parser.add_argument(
        "--hold",
        type=float,
        default=60.0,
        env_var="LOADTEST_HOLD",
        help="seconds at --users (shortened to fit --run-time)",
    )
    parser.add_argument(
        "--baseline-users",
        type=int,
        default=0,
        env_var="LOADTEST_BASELINE_USERS",
        help="spike: users before and after the peak",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        env_var="LOADTEST_WARMUP",
        help="spike: seconds at the baseline before the ramp",
    )
    parser.add_argument(
        "--cooldown",
        type=float,
        default=0.0,
        env_var="LOADTEST_COOLDOWN",
        help="spike: seconds back at the baseline after the peak",
    )
    parser.add_argument(
        "--concurrency-per-user",
        type=float,
        default=1.0,
        env_var="LOADTEST_CONCURRENCY_PER_USER",
        help="Lambda environments one user occupies (<=1); caps the spike's ramp at 100/this users/s",
    )
    # verdict
    parser.add_argument(
        "--max-failure-ratio",
        default="0.01",
        env_var="LOADTEST_MAX_FAILURE_RATIO",
        help="0.01 or 1%% (429s are not failures)",
    )
    parser.add_argument(
        "--p95",
        default="1000",
        env_var="LOADTEST_P95",
        help="p95 limit in ms: N, or 'default=N;POST /uploads=M;...' per endpoint name",
    )
    parser.add_argument(
        "--min-rps",
        type=float,
        default=1000.0,
        env_var="LOADTEST_MIN_RPS",
        help="API requests/s the run must reach (best --rate-window s); default: the old Data API limit",
    )
    parser.add_argument("--rate-window", type=int, default=10, env_var="LOADTEST_RATE_WINDOW")
    parser.add_argument(
        "--max-throttle-ratio",
        default="",
        env_var="LOADTEST_MAX_THROTTLE_RATIO",
        help="fail above this share of 429s (default: report only)",
    )


@dataclass
class Setup:
    """What every simulated user of this process shares, built once at init."""

    file_host: str
    project_host: str
    photos: list[bytes]
    tokens: identity.TokenMinter | identity.TokenFile
    files_per_visit: int
    thresholds: Thresholds


SETUP: Setup | None = None


def _setup() -> Setup:
    if SETUP is None:
        raise RuntimeError("the locustfile's init listener has not run")
    return SETUP


def parse_weights(spec: str) -> dict[str, int]:
    """`upload=6,mobile=1,browse=3` -> {"upload": 6, ...}; unknown names and negatives are refused."""
    weights = {"upload": 0, "mobile": 0, "browse": 0}
    for part in spec.split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in weights or not value.strip().isdigit():
            raise ValueError(f"weight {part.strip()!r}: expected upload=N, mobile=N or browse=N")
        weights[name] = int(value)
    if not any(weights.values()):
        raise ValueError("at least one user kind needs a weight above 0")
    return weights


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    global SETUP
    options = environment.parsed_options
    if options is None:  # used as a library (tests): nothing to set up
        return
    try:
        thresholds = build_thresholds(
            max_failure_ratio=options.max_failure_ratio,
            p95=options.p95,
            min_rps=options.min_rps,
            rate_window=options.rate_window,
            max_throttle_ratio=options.max_throttle_ratio or None,
        )
        weights = parse_weights(options.weights)
        low, high = (float(v) for v in options.think_time.split(","))
        sizes = payloads.parse_sizes(options.image_sizes)
    except (ThresholdError, ValueError) as exc:
        raise SystemExit(f"loadtest: {exc}") from exc
    host = (options.host or environment.host or "").rstrip("/")
    tokens: identity.TokenMinter | identity.TokenFile = (
        identity.TokenFile(Path(options.token_file))
        if options.token_file
        else identity.TokenMinter(options.jwt_secret, options.jwt_issuer, options.jwt_audience, options.tenants)
    )
    SETUP = Setup(
        file_host=(options.file_host or host).rstrip("/"),
        project_host=(options.project_host or host).rstrip("/"),
        photos=payloads.photo_set(sizes),
        tokens=tokens,
        files_per_visit=max(1, options.files_per_visit),
        thresholds=thresholds,
    )
    for user_class, kind in ((PeakUploadUser, "upload"), (MobileUploadUser, "mobile"), (BrowsingUser, "browse")):
        user_class.weight = weights[kind]
        user_class.wait_time = between(low, high)
    if environment.user_classes:
        environment.user_classes[:] = [c for c in environment.user_classes if getattr(c, "weight", 1) > 0]
    if not isinstance(environment.runner, WorkerRunner):
        log.info(
            "imagestore load test: file API %s, project API %s, weights %s, %d JPEGs (%s bytes)",
            SETUP.file_host,
            SETUP.project_host,
            weights,
            len(SETUP.photos),
            "/".join(str(len(p)) for p in SETUP.photos),
        )


class ImagestoreUser(FastHttpUser):
    """A shop visitor with a token; requests are named after their route so stats group per endpoint."""

    abstract = True
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.identity = _setup().tokens.next()

    def api(
        self, method: str, host: str, path: str, name: str, expect: int, token: str | None = None, **kwargs: Any
    ) -> dict[str, Any] | None:
        """One API call: the parsed body on the expected status, None otherwise (failure or throttle)."""
        headers = {"Authorization": f"Bearer {token or self.identity.token}", **kwargs.pop("headers", {})}
        with self.client.request(
            method, host + path, name=name, headers=headers, catch_response=True, **kwargs
        ) as response:
            if mark_throttled(response):
                return None
            if response.status_code != expect:
                response.failure(f"{response.status_code} (expected {expect}): {(response.text or '')[:200]}")
                return None
            if not response.content:
                return {}
            try:
                body = response.json()
            except ValueError:
                response.failure("response is not JSON")
                return None
            return body if isinstance(body, dict) else {"items": body}

    def upload_photo(self, token: str | None = None, tag: str = "") -> str | None:
        """Request an upload, POST the bytes to the presigned target, complete it: the file id."""
        setup = _setup()
        data = random.choice(setup.photos)
        filename = f"IMG_{random.randrange(10000):04d}.jpg"
        ticket = self.api(
            "POST",
            setup.file_host,
            "/uploads",
            f"POST /uploads{tag}",
            201,
            token,
            json={"filename": filename, "contentType": "image/jpeg", "sizeBytes": len(data)},
        )
        if not ticket:
            return None
        target = ticket["upload"]
        body, content_type = payloads.multipart_form(target["fields"], data, filename, "image/jpeg")
        with self.client.request(
            target.get("method", "POST"),
            target["url"],
            name="S3 POST presigned upload",
            data=body,  # type: ignore[arg-type]  # bytes are sent as they are
            headers={**target.get("headers", {}), "Content-Type": content_type},
            catch_response=True,
        ) as response:
            if mark_throttled(response):
                return None
            if response.status_code not in (200, 201, 204):
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")
                return None
        file_id = str(ticket["fileId"])
        done = self.api(
            "POST",
            setup.file_host,
            f"/uploads/{file_id}/complete",
            f"POST /uploads/{{fileId}}/complete{tag}",
            200,
            token,
        )
        return file_id if done else None

    def upload_photos(self, count: int) -> list[str]:
        """As an editor uploads a selection: one requestUploads for up to 100 photos, their presigned POSTs,
        one completeUploads; the ids of the files that became available."""
        setup = _setup()
        chosen = [random.choice(setup.photos) for _ in range(min(count, 100))]
        files = [
            {"filename": f"IMG_{random.randrange(10000):04d}.jpg", "contentType": "image/jpeg", "sizeBytes": len(data)}
            for data in chosen
        ]
        batch = self.api("POST", setup.file_host, "/upload-batches", "POST /upload-batches", 200, json={"files": files})
        if not batch:
            return []
        sent: list[str] = []
        for item, data, described in zip(batch["items"], chosen, files, strict=True):
            if item.get("status") != 201:
                continue
            target = item["ticket"]["upload"]
            body, content_type = payloads.multipart_form(target["fields"], data, described["filename"], "image/jpeg")
            with self.client.request(
                "POST",
                target["url"],
                name="S3 POST presigned upload",
                data=body,  # type: ignore[arg-type]  # bytes are sent as they are
                headers={**target.get("headers", {}), "Content-Type": content_type},
                catch_response=True,
            ) as response:
                if mark_throttled(response):
                    continue
                if response.status_code not in (200, 201, 204):
                    response.failure(f"{response.status_code}: {(response.text or '')[:200]}")
                    continue
            sent.append(str(item["ticket"]["fileId"]))
        if not sent:
            return []
        done = self.api(
            "POST",
            setup.file_host,
            "/upload-batches/complete",
            "POST /upload-batches/complete",
            200,
            json={"fileIds": sent},
        )
        return [str(i["fileId"]) for i in (done or {}).get("items", []) if i.get("status") == 200]

    def download(self, url: str) -> None:
        with self.client.request("GET", url, name="S3 GET presigned download", catch_response=True) as response:
            if not mark_throttled(response) and response.status_code != 200:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")


class PeakUploadUser(ImagestoreUser):
    """Adds photos to a product and saves it: the traffic of a sale-day peak."""

    weight = 6

    def on_start(self) -> None:
        super().on_start()
        self.project_id: str | None = None
        self.version = 0
        self.file_ids: list[str] = []

    @task
    def design_session(self) -> None:
        setup = _setup()
        added = self.upload_photos(setup.files_per_visit)  # in batches, as the editor (and Uppy module) does
        if not added:
            return
        self.file_ids = (self.file_ids + added)[-MAX_PROJECT_FILES:]
        body = {
            "name": "Sale-day photobook",
            "productType": "photobook",
            "document": {"pages": [{"image": f} for f in self.file_ids]},
            "fileIds": self.file_ids,
        }
        if self.project_id is None:
            saved = self.api("POST", setup.project_host, "/projects", "POST /projects", 201, json=body)
        else:
            saved = self.api(
                "PUT",
                setup.project_host,
                f"/projects/{self.project_id}",
                "PUT /projects/{projectId}",
                200,
                json=body,
                headers={"If-Match": str(self.version)},
            )
        if saved:
            self.project_id, self.version = str(saved["projectId"]), int(saved["version"])
        if self.project_id:
            loaded = self.api(
                "GET", setup.project_host, f"/projects/{self.project_id}", "GET /projects/{projectId}", 200
            )
            if loaded:
                self.version = int(loaded.get("version", self.version))


class MobileUploadUser(ImagestoreUser):
    """Opens a mobile upload on the desktop and sends photos from the phone with its `mu1.` token."""

    weight = 1

    @task
    def phone_upload(self) -> None:
        setup = _setup()
        opened = self.api(
            "POST", setup.file_host, "/mobile-uploads", "POST /mobile-uploads", 201, json={"retention": "session"}
        )
        if not opened:
            return
        mobile_upload_id, phone_token = str(opened["mobileUploadId"]), str(opened["token"])
        self.api(
            "GET",
            setup.file_host,
            f"/mobile-uploads/{mobile_upload_id}/session",
            "GET /mobile-uploads/{mobileUploadId}/session (phone)",
            200,
            phone_token,
        )
        for _ in range(setup.files_per_visit):
            self.upload_photo(phone_token, " (phone)")
        self.api(
            "GET", setup.file_host, f"/mobile-uploads/{mobile_upload_id}", "GET /mobile-uploads/{mobileUploadId}", 200
        )


class BrowsingUser(ImagestoreUser):
    """Comes back to saved projects: lists them, opens one, looks at a photo."""

    weight = 3

    def on_start(self) -> None:
        super().on_start()
        setup = _setup()
        file_id = self.upload_photo()
        if file_id:
            self.api(
                "POST",
                setup.project_host,
                "/projects",
                "POST /projects",
                201,
                json={
                    "name": f"Cards {uuid.uuid4().hex[:6]}",
                    "productType": "cards",
                    "document": {"front": file_id},
                    "fileIds": [file_id],
                },
            )

    @task(3)
    def open_a_project(self) -> None:
        setup = _setup()
        page = self.api("GET", setup.project_host, "/projects?limit=20", "GET /projects", 200)
        if not page or not page.get("items"):
            return
        project_id = random.choice(page["items"])["projectId"]
        project = self.api("GET", setup.project_host, f"/projects/{project_id}", "GET /projects/{projectId}", 200)
        urls = [f["downloadUrl"] for f in (project or {}).get("files", []) if f.get("downloadUrl")]
        if urls:
            self.download(random.choice(urls))

    @task(1)
    def list_files(self) -> None:
        self.api("GET", _setup().file_host, "/files?limit=20", "GET /files", 200)


class ImagestoreShape(LoadTestShape):
    """--shape steady (ramp to --users over --ramp s, hold) or spike (baseline, Lambda-paced ramp, hold,
    drop); --users is the peak, --run-time bounds the whole."""

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self._schedule: SteadyRamp | Spike | None = None

    def schedule(self) -> SteadyRamp | Spike:
        if self._schedule is None:
            assert self.runner is not None
            options: Any = self.runner.environment.parsed_options
            users = int(options.num_users or 1)
            shape: SteadyRamp | Spike
            if options.shape == "spike":
                shape = Spike(
                    users,
                    options.ramp,
                    options.hold,
                    options.baseline_users,
                    options.warmup,
                    options.cooldown,
                    options.concurrency_per_user,
                )
                log.info(
                    "spike: %d -> %d users at %.0f users/s (Lambda: 1,000 environments / 10 s per "
                    "function at %.2f per user)",
                    shape.baseline_users,
                    users,
                    shape.spawn_rate,
                    options.concurrency_per_user,
                )
            else:
                shape = SteadyRamp(users, options.ramp, options.hold)
            self._schedule = fit_to_run_time(shape, options.run_time)
        return self._schedule

    def tick(self) -> tuple[int, float] | None:
        step: Step | None = self.schedule().at(self.get_run_time())
        return None if step is None else (step.users, step.spawn_rate)


def _why_none(environment: Any) -> str:
    """What the runner knows of a run that may have made no request: workers gone missing, an exception in the
    users, the first request error (a stack that does not answer), else how many users it had."""
    runner = environment.runner
    reasons = []
    if isinstance(runner, MasterRunner):
        missing = len(runner.clients.missing)
        if missing:
            reasons.append(
                f"{missing} of {len(runner.clients)} Locust worker(s) went missing (heartbeats missed: a busy "
                "machine); run with --processes 1 (one process, the default of make loadtest)"
            )
    reasons += [f"user error: {row['msg']}" for row in list(runner.exceptions.values())[:1]]
    reasons += [
        f"request error: {error.error} ({error.method} {error.name})"
        for error in list(runner.stats.errors.values())[:1]
    ]
    if not reasons:
        reasons.append(f"{runner.user_count} user(s) running when the run ended")
    return "; ".join(reasons)


@events.quitting.add_listener
def _verdict(environment: Any, **_: Any) -> None:
    """Pass/fail from the thresholds; sets the process exit code and writes verdict.json/.txt."""
    if isinstance(environment.runner, WorkerRunner) or SETUP is None or environment.runner is None:
        return
    verdict = evaluate(endpoints_from_stats(environment.runner.stats), SETUP.thresholds, _why_none(environment))
    text = verdict.report()
    print(text, flush=True)
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if prefix:
        Path(f"{prefix}_verdict.txt").write_text(text + "\n", encoding="utf-8")
        Path(f"{prefix}_verdict.json").write_text(json.dumps(verdict.figures, indent=2) + "\n", encoding="utf-8")
    environment.process_exit_code = 0 if verdict.passed else 1
