"""The local Lambda runtime (imagestore_local.lambda_runtime): worker processes per function, one invocation at a
time each, up to the function's concurrency; timeouts kill the worker; asynchronous invocations retry, then go
to the on-failure destination the template names."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from imagestore_local.config_loader import Project
from imagestore_local.lambda_runtime import FunctionError, FunctionTimeout, HandlerImportError, LambdaRuntime

SERVICE_YML = """
service: rt
provider:
  name: aws
  stage: local
  region: eu-west-1
  timeout: 10
functions:
  api:
    handler: rtpkg/handlers.api
  slow:
    handler: rtpkg/handlers.slow
    timeout: 1
  failing:
    handler: rtpkg/handlers.failing
    maximumRetryAttempts: 1
    destinations:
      onFailure:
        type: sqs
        arn: !GetAtt FailuresQueue.Arn
  broken:
    handler: rtpkg/missing.handler
  aws:
    handler: rtpkg/handlers.aws_calls
    maximumRetryAttempts: 0
resources:
  Resources:
    FailuresQueue:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: rt-local-failures
"""

# Module-level state as the services have it: one REST resolver and one Logger per process.
HANDLERS = """
import json
import os
import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

logger = Logger(service="rt")
app = APIGatewayRestResolver()


def _record(**fields):
    with open(os.environ["RT_LOG"], "a") as out:
        out.write(json.dumps({"pid": os.getpid(), "t": time.time(), **fields}) + "\\n")


@app.get("/items/<user>")
def item(user):
    logger.append_keys(user_id=app.current_event.request_context.authorizer["sub"])
    time.sleep(0.02)  # others' requests would overwrite the shared resolver's event here
    logger.info("item read")
    return {"user": user, "sub": app.current_event.request_context.authorizer["sub"],
            "query": app.current_event.get_query_string_value("n")}


@logger.inject_lambda_context(clear_state=True)
def api(event, context):
    _record(kind="api", start=True)
    try:
        return app.resolve(event, context)
    finally:
        _record(kind="api", start=False)


def slow(event, context):
    time.sleep(event.get("seconds", 5))
    return {"slept": True, "pid": os.getpid()}


def aws_calls(event, context):
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="eu-west-1", aws_access_key_id="x",
                      aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    outcomes = []
    for _ in range(event.get("calls", 2)):
        try:
            s3.head_bucket(Bucket="b")
        except Exception as exc:
            outcomes.append(getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__)
    _record(kind="aws", outcomes=outcomes)
    return outcomes


def failing(event, context):
    _record(kind="failing", n=event["n"])
    raise ValueError("always fails")
"""


@pytest.fixture
def service(tmp_path: Path) -> Any:
    folder = tmp_path / "services" / "rt"
    (folder / "rtpkg").mkdir(parents=True)
    (folder / "rtpkg" / "__init__.py").write_text("")
    (folder / "rtpkg" / "handlers.py").write_text(HANDLERS)
    (folder / "serverless.yml").write_text(SERVICE_YML)  # the same text each time: osls print's cache answers
    return Project(tmp_path, stage="local").service("rt")


@pytest.fixture
def runtime(service: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaRuntime]:
    monkeypatch.setenv("IMAGESTORE_LOCAL_ASYNC_RETRY_SECONDS", "0.05")
    monkeypatch.delenv("IMAGESTORE_LOCAL_TIMEOUT_SCALE", raising=False)
    monkeypatch.delenv("IMAGESTORE_FAULTS", raising=False)
    monkeypatch.setenv("RT_LOG", str(tmp_path / "calls.jsonl"))
    functions = list(service.functions.values())
    rt = LambdaRuntime(functions, tmp_path / "dead-letters", concurrency="4,rt/slow=2")
    yield rt
    rt.stop()


def _calls(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _event(user: str, n: int) -> dict[str, Any]:
    return {
        "resource": "/items/{user}",
        "path": f"/items/{user}",
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": {"n": str(n)},
        "multiValueQueryStringParameters": {},
        "pathParameters": {"user": user},
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": f"req-{user}",
            "resourcePath": "/items/{user}",
            "httpMethod": "GET",
            "stage": "local",
            "path": f"/items/{user}",
            "authorizer": {"sub": user},
        },
    }


def test_concurrent_invocations_of_one_function_each_see_their_own_event_and_log_keys(
    runtime: LambdaRuntime, service: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    fn = service.functions["api"]

    # When 50 users' requests reach one function at once
    def call(n: int) -> Any:
        return runtime.invoke(fn, _event(f"user{n}", n), request_id=f"req-user{n}")

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(call, range(50)))

    # Then each answer carries its own request's data
    for n, answer in enumerate(answers):
        assert answer["statusCode"] == 200, answer
        assert json.loads(answer["body"]) == {"user": f"user{n}", "sub": f"user{n}", "query": str(n)}
    # and every log line of a request carries that request's id and its user (Logger keys are per process)
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith('{"level"')]
    read = [line for line in lines if line.get("message") == "item read"]
    assert len(read) == 50
    for line in read:
        assert line["function_request_id"] == f"req-{line['user_id']}", line
    # by at most 4 worker processes (the concurrency), each running one invocation at a time
    calls = _calls(tmp_path)
    pids = {c["pid"] for c in calls}
    assert 1 <= len(pids) <= 4
    for pid in pids:
        starts = [c["start"] for c in calls if c["pid"] == pid]
        assert starts == [True, False] * (len(starts) // 2), f"worker {pid} ran two invocations at once"


def test_an_invocation_past_its_timeout_is_killed_and_the_next_one_is_a_cold_start(
    runtime: LambdaRuntime, service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fn = service.functions["slow"]  # timeout: 1
    caplog.set_level(logging.INFO, logger="imagestore_local.lambda")

    first = runtime.invoke(fn, {"seconds": 0})
    with pytest.raises(FunctionTimeout, match=r"Task timed out after 1\.00 seconds"):
        runtime.invoke(fn, {"seconds": 30})
    after = runtime.invoke(fn, {"seconds": 0})

    assert first["slept"] and after["slept"]
    assert after["pid"] != first["pid"]  # its worker was killed; a new one started
    cold_starts = [r.getMessage() for r in caplog.records if "cold start" in r.getMessage()]
    assert len(cold_starts) == 2 and all("rt/slow" in m and " init " in m for m in cold_starts)


def test_a_handler_that_cannot_be_imported_is_an_init_error(runtime: LambdaRuntime, service: Any) -> None:
    with pytest.raises(HandlerImportError, match=r"cannot import rtpkg/missing\.handler"):
        runtime.invoke(service.functions["broken"], {})


def test_a_failed_asynchronous_invocation_is_retried_then_sent_to_its_destination(
    runtime: LambdaRuntime, service: Any, tmp_path: Path
) -> None:
    fn = service.functions["failing"]  # maximumRetryAttempts: 1, onFailure: FailuresQueue

    future = runtime.invoke_async(fn, {"n": 7})

    with pytest.raises(FunctionError, match="always fails"):
        future.result(timeout=30)
    assert [c["n"] for c in _calls(tmp_path)] == [7, 7]  # the attempt and one retry
    records = (tmp_path / "dead-letters" / "rt-local-failures.jsonl").read_text().splitlines()
    assert len(records) == 1
    record = json.loads(records[0])
    assert record["requestPayload"] == {"n": 7}
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responsePayload"]["errorType"] == "ValueError"


def test_asynchronous_invocations_run_concurrently_up_to_the_function_concurrency(
    runtime: LambdaRuntime, service: Any
) -> None:
    fn = service.functions["slow"]  # concurrency 2 (rt/slow=2)

    futures = [runtime.invoke_async(fn, {"seconds": 0.4}) for _ in range(6)]
    results = [f.result(timeout=60) for f in futures]
    running = [r["pid"] for r in results]

    assert len(set(running)) == 2  # two workers shared the six invocations


def test_a_worker_killed_mid_invocation_is_a_function_error_and_is_replaced(
    runtime: LambdaRuntime, service: Any
) -> None:
    fn = service.functions["slow"]
    pid = runtime.invoke(fn, {"seconds": 0})["pid"]
    killer = threading.Timer(0.5, lambda: __import__("os").kill(pid, 9))
    killer.start()
    with pytest.raises(FunctionError, match="exited"):
        runtime.invoke(fn, {"seconds": 0.9})  # the same (idle) worker takes it
    assert runtime.invoke(fn, {"seconds": 0})["pid"] != pid


def test_the_fault_mode_fails_aws_calls_kills_between_two_and_delivers_events_twice(
    runtime: LambdaRuntime, service: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = service.functions["aws"]  # two S3 calls (to a closed port: each fails on its own, unfaulted)

    monkeypatch.setenv("IMAGESTORE_FAULTS", "s3_slowdown=1")
    assert runtime.invoke(fn, {"calls": 2}) == ["SlowDown", "SlowDown"]
    monkeypatch.setenv("IMAGESTORE_FAULTS", "kill=1")
    with pytest.raises(FunctionError, match="exited"):
        runtime.invoke(fn, {"calls": 2})  # killed before the second call
    assert runtime.invoke(fn, {"calls": 1}) == ["EndpointConnectionError"]  # a new worker; one call is never killed
    monkeypatch.setenv("IMAGESTORE_FAULTS", "event_duplicate=1")
    runtime.invoke_async(fn, {"calls": 0}).result(timeout=30)
    deadline = time.monotonic() + 30
    while len([c for c in _calls(tmp_path) if c["kind"] == "aws"]) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # and no third delivery

    assert [c["outcomes"] for c in _calls(tmp_path)] == [["SlowDown", "SlowDown"], ["EndpointConnectionError"], [], []]
    assert runtime.faults["s3_slowdown"] == 2 and runtime.faults["kill"] == 1
    assert runtime.faults["event_duplicate"] >= 1
