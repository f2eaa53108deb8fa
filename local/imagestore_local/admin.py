"""The local stack's own endpoints (/_local/...: health, clock, routes, EventBridge PutEvents, SQS, Lambda Invoke,
invoke by hand, TTL, faults, caches) and the Parameters and Secrets extension's GET, served by the gateway."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from imagestore_local.config_loader import ACCOUNT_ID
from imagestore_local.faults import ENV as FAULTS_ENV
from imagestore_local.faults import Faults
from imagestore_local.lambda_runtime import FunctionError
from imagestore_local.sqs import QueueError

if TYPE_CHECKING:
    from imagestore_local.gateway import Gateway

log = logging.getLogger("imagestore_local.admin")
_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
_LAMBDA_INVOKE = re.compile(r"/_local/lambda/2015-03-31/functions/([^/]+)/invocations")
_INVOKE = re.compile(r"/_local/functions/([^/]+)/([^/]+)/invoke")


def _json(status: int, body: Any, headers: dict[str, str] | None = None, kind: str = "application/json") -> Response:
    return Response(json.dumps(body, default=str), status=status, headers=headers or {}, content_type=kind)


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": {"code": _CODES.get(status, "error"), "message": message}})


def respond(gw: Gateway, request: Request) -> Response:
    """/_local/* endpoints."""
    path, method = request.path.rstrip("/"), request.method
    if path == "/_local/health" and method == "GET":
        info = gw.info
        return _json(
            200,
            {
                "status": "ok",
                "stage": info.stage,
                "region": info.region,
                "dynamodb": info.dynamodb,
                "s3": info.s3,
                "dataDir": info.data_dir,
                "uptimeSeconds": round(time.time() - gw.started, 1),
                "clockOffsetSeconds": gw.clock.offset,
                "services": [service.key for service in gw.project.services()],
                **info.extra,
            },
        )
    if path == "/_local/clock" and method in ("GET", "POST"):
        body = _json_body(request) if method == "POST" else {}
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        if "offsetSeconds" in body:
            gw.clock.set(float(body["offsetSeconds"]))
        elif "advanceSeconds" in body:
            gw.clock.advance(float(body["advanceSeconds"]))
        elif method == "POST":
            return _error(400, "give advanceSeconds or offsetSeconds")
        return _json(200, gw.clock.describe())
    if path == "/_local/routes" and method == "GET":
        return _json(
            200,
            [
                {
                    "method": r.method,
                    "path": r.resource,
                    "service": r.service.key,
                    "function": r.function.key,
                    "authorizer": r.authorizer.function.key if r.authorizer else None,
                }
                for r in gw.router.routes
            ],
        )
    if path == "/_local/events" and method == "POST":
        return _put_events(gw, request)
    if (path == "/_local/sqs" or path.startswith("/_local/sqs/")) and method == "POST":
        return _sqs(gw, request)
    if (match := _LAMBDA_INVOKE.fullmatch(path)) and method == "POST":
        return _lambda_invoke(gw, request, unquote(match.group(1)))
    if (match := _INVOKE.fullmatch(path)) and method == "POST":
        return _invoke_function(gw, request, match.group(1), match.group(2))
    if path == "/_local/ttl" and method == "POST" and gw.ttl is not None:
        return _json(200, gw.ttl.run_once())
    if path == "/_local/faults":
        return _faults(gw, request)
    if path == "/_local/authorizer-cache" and method == "DELETE":
        gw.authorizers.clear()
        return Response(status=204)
    if path == "/_local/usage-plans" and method == "DELETE":
        for plans in gw.usage_plans.values():
            plans.reset()
        return Response(status=204)
    return _error(404, f"No route for {method} {request.path}")


def _json_body(request: Request) -> Any:
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return None


def _put_events(gw: Gateway, request: Request) -> Response:
    """PutEvents (also reached by boto3's events client via AWS_ENDPOINT_URL_EVENTBRIDGE)."""
    target = request.headers.get("X-Amz-Target", "AWSEvents.PutEvents")
    body = _json_body(request)
    kind = "application/x-amz-json-1.1" if "X-Amz-Target" in request.headers else "application/json"
    if not target.endswith(".PutEvents"):
        return _json(400, {"__type": "UnknownOperationException", "message": target}, kind=kind)
    if not isinstance(body, dict) or not isinstance(body.get("Entries"), list):
        return _json(400, {"__type": "ValidationException", "message": "Entries is required"}, kind=kind)
    wait = request.args.get("wait", "").lower() in ("1", "true", "yes")
    return _json(200, gw.event_bus.put_events(body["Entries"], wait=wait), kind=kind)


def _sqs(gw: Gateway, request: Request) -> Response:
    """The SQS API (boto3's sqs client via AWS_ENDPOINT_URL_SQS: the JSON protocol)."""
    kind = "application/x-amz-json-1.0"
    operation = request.headers.get("X-Amz-Target", "").removeprefix("AmazonSQS.")
    body = _json_body(request)
    if gw.sqs is None or not isinstance(body, dict):
        return _json(400, {"__type": "InvalidParameterValue", "message": "no queues or no JSON body"}, kind=kind)
    try:
        return _json(200, gw.sqs.call(operation, body), kind=kind)
    except QueueError as exc:
        headers = {"x-amzn-query-error": f"{exc.code};Sender"}
        return _json(exc.status, {"__type": exc.code, "message": exc.message}, headers, kind)
    except (KeyError, ValueError, TypeError) as exc:
        return _json(400, {"__type": "InvalidParameterValue", "message": str(exc)}, kind=kind)


def _faults(gw: Gateway, request: Request) -> Response:
    """GET: IMAGESTORE_FAULTS in effect and the faults injected so far, by kind; POST {"spec": "..."}: set it
    ("" turns faults off), for every invocation from now on."""
    if request.method == "POST":
        body = _json_body(request)
        spec = body.get("spec") if isinstance(body, dict) else None
        if not isinstance(spec, str):
            return _error(400, 'give {"spec": "kind=rate,..."}')
        try:
            Faults.parse(spec)
        except ValueError as exc:
            return _error(400, str(exc))
        os.environ[FAULTS_ENV] = spec
        log.warning("faults now %r", spec)
    elif request.method != "GET":
        return _error(405, "GET or POST")
    return _json(200, {"spec": os.environ.get(FAULTS_ENV, ""), "injected": dict(gw.runtime.faults)})


def parameter(gw: Gateway, request: Request) -> Response:
    """The AWS Parameters and Secrets Lambda Extension's GET, serving the local JWT secret."""
    name = request.args.get("name", "")
    if not name or (name != os.environ.get("IMAGESTORE_JWT_SECRET_PARAMETER") and not name.endswith("jwt-secret")):
        return _json(400, {"__type": "ParameterNotFound", "message": f"parameter {name} not found"})
    arn = f"arn:aws:ssm:{gw.info.region}:{ACCOUNT_ID}:parameter/{name.strip('/')}"
    value = os.environ.get("IMAGESTORE_JWT_SECRET", "")
    return _json(200, {"Parameter": {"Name": name, "Type": "SecureString", "Value": value, "Version": 1, "ARN": arn}})


def _invoke_function(gw: Gateway, request: Request, service_key: str, function_key: str) -> Response:
    """Invoke any function (by service key or name, function key or deployed name) with a JSON event."""
    fn = next(
        (
            fn
            for service in gw.project.services()
            if service_key in (service.key, service.service_name)
            for fn in service.functions.values()
            if function_key in (fn.key, fn.name)
        ),
        None,
    )
    if fn is None:
        return _error(404, f"no function {service_key}/{function_key}")
    event = _json_body(request)
    if event is None:
        return _error(400, "the event must be JSON")
    try:
        return _json(200, gw.runtime.invoke(fn, event))
    except FunctionError as exc:
        log.error("%s/%s failed when invoked by hand: %s: %s", service_key, function_key, exc.error_type, exc)
        body = {"errorType": exc.error_type, "errorMessage": str(exc)}
        return _json(500, body, {"X-Amz-Function-Error": "Unhandled"})


def _lambda_invoke(gw: Gateway, request: Request, name: str) -> Response:
    """Lambda's Invoke API (boto3 via AWS_ENDPOINT_URL_LAMBDA): Event -> 202, run in the background;
    RequestResponse -> 200 with the function's result."""
    fn = gw.runtime.find(name)
    if fn is None:
        message = {"Type": "User", "message": f"Function not found: {name}"}
        return _json(404, message, {"x-amzn-ErrorType": "ResourceNotFoundException"})
    event = _json_body(request)
    if event is None:
        message = {"Type": "User", "message": "Could not parse request body into json"}
        return _json(400, message, {"x-amzn-ErrorType": "InvalidRequestContentException"})
    if request.headers.get("X-Amz-Invocation-Type", "RequestResponse") == "Event":
        gw.runtime.invoke_async(fn, event, source="lambda Invoke")
        return Response(b"", status=202)
    try:
        return _json(200, gw.runtime.invoke(fn, event))
    except FunctionError as exc:
        body = {"errorType": exc.error_type, "errorMessage": str(exc)}
        return _json(200, body, {"X-Amz-Function-Error": "Unhandled"})
