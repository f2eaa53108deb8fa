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

from imagestore_local.config_loader import ACCOUNT_ID, FunctionDef
from imagestore_local.faults import ENV as FAULTS_ENV
from imagestore_local.faults import Faults
from imagestore_local.lambda_runtime import FunctionError
from imagestore_local.sqs import QueueError

if TYPE_CHECKING:
    from imagestore_local.gateway import Gateway

log = logging.getLogger("imagestore_local.admin")
_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}


def _json(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=status, headers=headers or {}, content_type="application/json")


def _error(status: int, message: str) -> str:
    return json.dumps({"error": {"code": _CODES.get(status, "error"), "message": message}})


def respond(gw: Gateway, request: Request) -> Response:
    """/_local/* endpoints."""
    path = request.path.rstrip("/")
    if path == "/_local/health" and request.method == "GET":
        return _json(
            200,
            json.dumps(
                {
                    "status": "ok",
                    "stage": gw.info.stage,
                    "region": gw.info.region,
                    "dynamodb": gw.info.dynamodb,
                    "s3": gw.info.s3,
                    "dataDir": gw.info.data_dir,
                    "uptimeSeconds": round(time.time() - gw.started, 1),
                    "clockOffsetSeconds": gw.clock.offset,
                    "services": [service.key for service in gw.project.services()],
                    **gw.info.extra,
                }
            ),
        )
    if path == "/_local/clock":
        if request.method == "GET":
            return _json(200, json.dumps(gw.clock.describe()))
        if request.method == "POST":
            body = _json_body(request)
            if not isinstance(body, dict):
                return _json(400, _error(400, "body must be a JSON object"))
            if "offsetSeconds" in body:
                gw.clock.set(float(body["offsetSeconds"]))
            elif "advanceSeconds" in body:
                gw.clock.advance(float(body["advanceSeconds"]))
            else:
                return _json(400, _error(400, "give advanceSeconds or offsetSeconds"))
            return _json(200, json.dumps(gw.clock.describe()))
    if path == "/_local/routes" and request.method == "GET":
        return _json(
            200,
            json.dumps(
                [
                    {
                        "method": r.method,
                        "path": r.resource,
                        "service": r.service.key,
                        "function": r.function.key,
                        "authorizer": r.authorizer.function.key if r.authorizer else None,
                    }
                    for r in gw.router.routes
                ]
            ),
        )
    if path == "/_local/events" and request.method == "POST":
        return _put_events(gw, request)
    if (path == "/_local/sqs" or path.startswith("/_local/sqs/")) and request.method == "POST":
        return _sqs(gw, request)
    lambda_invoke = re.fullmatch(r"/_local/lambda/2015-03-31/functions/([^/]+)/invocations", path)
    if lambda_invoke and request.method == "POST":
        return _lambda_invoke(gw, request, unquote(lambda_invoke.group(1)))
    invoke = re.fullmatch(r"/_local/functions/([^/]+)/([^/]+)/invoke", path)
    if invoke and request.method == "POST":
        return _invoke_function(gw, request, invoke.group(1), invoke.group(2))
    if path == "/_local/ttl" and request.method == "POST" and gw.ttl is not None:
        return _json(200, json.dumps(gw.ttl.run_once(), default=str))
    if path == "/_local/faults":
        return _faults(gw, request)
    if path == "/_local/authorizer-cache" and request.method == "DELETE":
        gw.authorizers.clear()
        return Response(status=204)
    if path == "/_local/usage-plans" and request.method == "DELETE":
        for plans in gw.usage_plans.values():
            plans.reset()
        return Response(status=204)
    return _json(404, _error(404, f"No route for {request.method} {request.path}"))


def _json_body(request: Request) -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return None


def _put_events(gw: Gateway, request: Request) -> Response:
    """PutEvents (also reached by boto3's events client via AWS_ENDPOINT_URL_EVENTBRIDGE)."""
    target = request.headers.get("X-Amz-Target", "AWSEvents.PutEvents")
    body = _json_body(request)
    content_type = "application/x-amz-json-1.1" if "X-Amz-Target" in request.headers else "application/json"
    if not target.endswith(".PutEvents"):
        return Response(
            json.dumps({"__type": "UnknownOperationException", "message": target}),
            status=400,
            content_type=content_type,
        )
    if not isinstance(body, dict) or not isinstance(body.get("Entries"), list):
        return Response(
            json.dumps({"__type": "ValidationException", "message": "Entries is required"}),
            status=400,
            content_type=content_type,
        )
    wait = request.args.get("wait", "").lower() in ("1", "true", "yes")
    result = gw.event_bus.put_events(body["Entries"], wait=wait)
    return Response(json.dumps(result, default=str), status=200, content_type=content_type)


def _sqs(gw: Gateway, request: Request) -> Response:
    """The SQS API (boto3's sqs client via AWS_ENDPOINT_URL_SQS: the JSON protocol)."""
    content_type = "application/x-amz-json-1.0"
    operation = request.headers.get("X-Amz-Target", "").removeprefix("AmazonSQS.")
    body = _json_body(request)
    if gw.sqs is None or not isinstance(body, dict):
        return Response(
            json.dumps({"__type": "InvalidParameterValue", "message": "no queues or no JSON body"}),
            status=400,
            content_type=content_type,
        )
    try:
        result = gw.sqs.call(operation, body)
    except QueueError as exc:
        return Response(
            json.dumps({"__type": exc.code, "message": exc.message}),
            status=exc.status,
            content_type=content_type,
            headers={"x-amzn-query-error": f"{exc.code};Sender"},
        )
    except (KeyError, ValueError, TypeError) as exc:
        return Response(
            json.dumps({"__type": "InvalidParameterValue", "message": str(exc)}), status=400, content_type=content_type
        )
    return Response(json.dumps(result), status=200, content_type=content_type)


def _faults(gw: Gateway, request: Request) -> Response:
    """GET: IMAGESTORE_FAULTS in effect and the faults injected so far, by kind; POST {"spec": "..."}: set it
    ("" turns faults off), for every invocation from now on."""
    if request.method == "POST":
        body = _json_body(request)
        spec = body.get("spec") if isinstance(body, dict) else None
        if not isinstance(spec, str):
            return _json(400, _error(400, 'give {"spec": "kind=rate,..."}'))
        try:
            Faults.parse(spec)
        except ValueError as exc:
            return _json(400, _error(400, str(exc)))
        os.environ[FAULTS_ENV] = spec
        log.warning("faults now %r", spec)
    elif request.method != "GET":
        return _json(405, _error(405, "GET or POST"))
    return _json(200, json.dumps({"spec": os.environ.get(FAULTS_ENV, ""), "injected": dict(gw.runtime.faults)}))


def parameter(gw: Gateway, request: Request) -> Response:
    """The AWS Parameters and Secrets Lambda Extension's GET, serving the local JWT secret."""
    name = request.args.get("name", "")
    secret_parameter = os.environ.get("IMAGESTORE_JWT_SECRET_PARAMETER")
    if name and (name == secret_parameter or name.endswith("jwt-secret")):
        value = os.environ.get("IMAGESTORE_JWT_SECRET", "")
        return _json(
            200,
            json.dumps(
                {
                    "Parameter": {
                        "Name": name,
                        "Type": "SecureString",
                        "Value": value,
                        "Version": 1,
                        "ARN": f"arn:aws:ssm:{gw.info.region}:{ACCOUNT_ID}:parameter/{name.strip('/')}",
                    }
                }
            ),
        )
    return _json(400, json.dumps({"__type": "ParameterNotFound", "message": f"parameter {name} not found"}))


def _invoke_function(gw: Gateway, request: Request, service_key: str, function_key: str) -> Response:
    """Invoke any function with a JSON event; answers its JSON result."""
    fn = _function(gw, service_key, function_key)
    if fn is None:
        return _json(404, _error(404, f"no function {service_key}/{function_key}"))
    event = _json_body(request)
    if event is None:
        return _json(400, _error(400, "the event must be JSON"))
    try:
        result = gw.runtime.invoke(fn, event)
    except FunctionError as exc:
        log.error("%s/%s failed when invoked by hand: %s: %s", service_key, function_key, exc.error_type, exc)
        return _json(
            500,
            json.dumps({"errorType": exc.error_type, "errorMessage": str(exc)}),
            {"X-Amz-Function-Error": "Unhandled"},
        )
    return _json(200, json.dumps(result, default=str))


def _lambda_invoke(gw: Gateway, request: Request, name: str) -> Response:
    """Lambda's Invoke API (boto3 via AWS_ENDPOINT_URL_LAMBDA): Event -> 202, run in the background;
    RequestResponse -> 200 with the function's result."""
    fn = gw.runtime.find(name)
    if fn is None:
        return Response(
            json.dumps({"Type": "User", "message": f"Function not found: {name}"}),
            status=404,
            headers={"x-amzn-ErrorType": "ResourceNotFoundException"},
            content_type="application/json",
        )
    event = _json_body(request)
    if event is None:
        return Response(
            json.dumps({"Type": "User", "message": "Could not parse request body into json"}),
            status=400,
            headers={"x-amzn-ErrorType": "InvalidRequestContentException"},
            content_type="application/json",
        )
    if request.headers.get("X-Amz-Invocation-Type", "RequestResponse") == "Event":
        gw.runtime.invoke_async(fn, event, source="lambda Invoke")
        return Response(b"", status=202)
    try:
        result = gw.runtime.invoke(fn, event)
    except FunctionError as exc:
        return Response(
            json.dumps({"errorType": exc.error_type, "errorMessage": str(exc)}),
            status=200,
            headers={"X-Amz-Function-Error": "Unhandled"},
            content_type="application/json",
        )
    return Response(json.dumps(result, default=str), status=200, content_type="application/json")


def _function(gw: Gateway, service_key: str, function_key: str) -> FunctionDef | None:
    """A function by service key (or service name) and function key (or deployed name)."""
    for service in gw.project.services():
        if service_key in (service.key, service.service_name):
            for fn in service.functions.values():
                if function_key in (fn.key, fn.name):
                    return fn
    return None
