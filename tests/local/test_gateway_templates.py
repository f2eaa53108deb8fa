"""The local gateway built from the repository's own serverless.yml answers what the deployed API
Gateway would, for everything it answers itself: the CORS preflight of the routes, the API's error
body on 401, 404 and 413, with the Origin echoed as the gateway responses declare (no handler runs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import Client

from imagestore_local.clock import LocalClock
from imagestore_local.config_loader import Project
from imagestore_local.gateway import Gateway, StackInfo
from imagestore_local.lambda_runtime import LambdaRuntime
from imagestore_local.routing import build_routes
from imagestore_local.scheduler import EventBus

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ORIGIN = "http://127.0.0.1:5173"  # matches the local stage's corsOrigins (http://127.0.0.1:*)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    project = Project(ROOT, stage="local")
    data = tmp_path_factory.mktemp("gateway")
    info = StackInfo(stage="local", region="eu-west-1", dynamodb="none", s3="none", data_dir=str(data))
    runtime = LambdaRuntime()
    bus = EventBus([], runtime, "eu-west-1")
    yield Client(Gateway(project, build_routes(project), runtime, bus, LocalClock(data / "clock"), info))
    runtime.stop()


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/uploads", "POST"),
        ("/files/f1", "DELETE"),
        ("/mobile-uploads/m1/session", "GET"),
        ("/projects/p1", "PUT"),
        ("/shares/t/copies", "POST"),
        ("/orders/o1/resubmissions", "POST"),
    ],
)
def test_preflight_of_every_api(client: Client, path: str, method: str) -> None:
    preflight = client.options(path, headers={"Origin": LOCAL_ORIGIN, "Access-Control-Request-Method": method})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == LOCAL_ORIGIN
    assert method in preflight.headers["Access-Control-Allow-Methods"].split(",")
    allowed_headers = set(preflight.headers["Access-Control-Allow-Headers"].split(","))
    assert {"Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match"} <= allowed_headers
    assert preflight.headers["Access-Control-Max-Age"] == "600"
    other = client.options(path, headers={"Origin": "https://evil.example"})
    assert other.headers["Access-Control-Allow-Origin"] != "https://evil.example"


def test_gateway_errors_have_the_api_body_and_cors(client: Client) -> None:
    unauthorized = client.get("/projects", headers={"Origin": LOCAL_ORIGIN})
    assert unauthorized.status_code == 401
    assert json.loads(unauthorized.data) == {
        "error": {
            "code": "unauthorized",
            "message": "Unauthorized",
            "requestId": unauthorized.headers["X-Amzn-RequestId"],
        }
    }
    assert {"ETag", "Retry-After", "X-Amzn-RequestId", "RateLimit", "RateLimit-Policy"} <= {
        h.strip() for h in unauthorized.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert unauthorized.headers["Access-Control-Allow-Origin"] == LOCAL_ORIGIN
    assert unauthorized.headers["Vary"] == "Origin"
    for missing in (client.get("/nowhere"), client.patch("/files/f1")):
        assert missing.status_code == 404
        assert json.loads(missing.data) == {
            "error": {"code": "not_found", "message": "no such route", "requestId": missing.headers["X-Amzn-RequestId"]}
        }
    too_large = client.post(
        "/projects",
        data=b"{" + b" " * (10 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json", "Origin": LOCAL_ORIGIN},
    )
    assert too_large.status_code == 413
    assert json.loads(too_large.data) == {
        "error": {
            "code": "payload_too_large",
            "message": "Request Too Long",
            "requestId": too_large.headers["X-Amzn-RequestId"],
        }
    }
    assert too_large.headers["Access-Control-Allow-Origin"] == LOCAL_ORIGIN
