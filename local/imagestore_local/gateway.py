"""The API Gateway emulator: REST proxy events, authorizers, gateway responses, CORS (admin endpoints: admin.py)."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from imagestore_local import admin, api_docs, demo
from imagestore_local.authorizer import AuthorizerRunner
from imagestore_local.clock import LocalClock
from imagestore_local.config_loader import ACCOUNT_ID, Project, ServiceConfig
from imagestore_local.lambda_runtime import FunctionError, FunctionTimeout, LambdaRuntime
from imagestore_local.policy import method_arn
from imagestore_local.routing import DEFAULT_CORS_HEADERS, Route, Router, api_id, cors_origins
from imagestore_local.scheduler import EventBus
from imagestore_local.sqs import LocalSqs
from imagestore_local.throttling import UsagePlans
from imagestore_local.ttl import TtlReaper

log = logging.getLogger("imagestore_local.gateway")


# API Gateway's payload limit (REST APIs: 10 MB) and Lambda's synchronous invocation payload
# limits (6 MB for the request event, as JSON; the result may be 100 bytes more, as Lambda counts).
API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024
LAMBDA_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
LAMBDA_MAX_RESULT_BYTES = LAMBDA_MAX_PAYLOAD_BYTES + 100
_TEXT_TYPES = re.compile(r"^(text/|application/(json|.*\+json|xml|.*\+xml|x-www-form-urlencoded|javascript))")
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    504: "gateway_timeout",
}
_DEFAULT_STATUS = {
    "UNAUTHORIZED": 401,
    "ACCESS_DENIED": 403,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "RESOURCE_NOT_FOUND": 404,
    "BAD_REQUEST_BODY": 400,
    "INTEGRATION_FAILURE": 504,
    "API_CONFIGURATION_ERROR": 500,
    "INVALID_API_KEY": 403,
    "THROTTLED": 429,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "INTEGRATION_TIMEOUT": 504,
}


_SHARE_TOKEN_IN_PATH = re.compile(r"(/shares/)[^/?\s]+")


def redact_path(text: str) -> str:
    """A path (or request line) with share tokens replaced by {token}: they are bearer secrets."""
    return _SHARE_TOKEN_IN_PATH.sub(r"\1{token}", text)


@dataclass
class GatewayResponse:
    """An AWS::ApiGateway::GatewayResponse of a service."""

    status: int | None
    templates: dict[str, str]
    headers: dict[str, str]  # header -> mapping expression: 'static' or method.request.header.X

    def render_headers(self, request: Request | None) -> dict[str, str]:
        """The response headers: static values, and request headers as API Gateway maps them (a
        request header that is missing leaves its response header out)."""
        out: dict[str, str] = {}
        for name, expression in self.headers.items():
            if len(expression) >= 2 and expression[0] == expression[-1] == "'":
                out[name] = expression[1:-1]
            elif expression.startswith("method.request.header.") and request is not None:
                value = request.headers.get(expression.removeprefix("method.request.header."))
                if value:
                    out[name] = value
            else:
                log.warning("gateway response header %s: mapping %r is not emulated", name, expression)
        return out


def gateway_responses(service: ServiceConfig) -> dict[str, GatewayResponse]:
    """ResponseType -> GatewayResponse from the service's resources."""
    out: dict[str, GatewayResponse] = {}
    for resource in service.resources.values():
        if resource.get("Type") != "AWS::ApiGateway::GatewayResponse":
            continue
        props = resource.get("Properties") or {}
        headers = {}
        for name, value in (props.get("ResponseParameters") or {}).items():
            if str(name).startswith("gatewayresponse.header.") and isinstance(value, str):
                headers[name.removeprefix("gatewayresponse.header.")] = value.strip()
        status = props.get("StatusCode")
        out[str(props.get("ResponseType"))] = GatewayResponse(
            status=int(status) if status else None,
            templates={str(k): str(v) for k, v in (props.get("ResponseTemplates") or {}).items()},
            headers=headers,
        )
    return out


def render_template(template: str, values: dict[str, str]) -> str:
    """The small part of VTL gateway responses use: $context.x.y and ${context.x.y}."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, "")

    return re.sub(r"\$\{(context(?:\.[\w-]+)+)\}|\$(context(?:\.[\w-]+)+)", replace, template)


def origin_allowed(origin: str, cors: dict[str, Any]) -> bool:
    """Whether Serverless's preflight template echoes this Origin: an `origins` entry (or one of
    the comma-separated `origin`) matches, `.` literal and one `*` standing for any text."""
    for pattern in cors_origins(cors):
        head, star, tail = pattern.partition("*")
        regex = re.escape(head) + (".+" + re.escape(tail) if star else "")
        if origin and re.fullmatch(regex, origin):
            return True
    return False


def _error_json(status: int, message: str, code: str | None = None) -> str:
    return json.dumps({"error": {"code": code or _CODES.get(status, "error"), "message": message}})


@dataclass
class StackInfo:
    """What /_local/health reports."""

    stage: str
    region: str
    dynamodb: str
    s3: str
    data_dir: str
    extra: dict[str, Any] = field(default_factory=dict)


class Gateway:
    """A WSGI application serving every service's REST routes plus /_local admin endpoints."""

    def __init__(
        self,
        project: Project,
        routes: list[Route],
        runtime: LambdaRuntime,
        event_bus: EventBus,
        clock: LocalClock,
        info: StackInfo,
        ttl: TtlReaper | None = None,
        sqs: LocalSqs | None = None,
    ) -> None:
        self.project = project
        self.ttl = ttl
        self.sqs = sqs
        self.router = Router(routes)
        self.runtime = runtime
        self.authorizers = AuthorizerRunner(runtime)
        self.event_bus = event_bus
        self.clock = clock
        self.info = info
        self.stage = project.stage
        self._responses = {service.key: gateway_responses(service) for service in project.services()}
        self.usage_plans = {service.key: UsagePlans(service) for service in project.services()}
        self.started = time.time()

    # ---- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception:
            log.exception("unhandled gateway error for %s %s", request.method, redact_path(request.path))
            response = self._json(500, _error_json(500, "Internal server error"))
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        """Route one request."""
        if request.path.startswith("/_local/"):
            return admin.respond(self, request)
        if request.path == "/systemsmanager/parameters/get":
            return admin.parameter(self, request)
        docs = api_docs.respond(self.project.root, request)  # GET /openapi.json and /docs, no token
        if docs is not None:
            return docs
        page = demo.respond(self.project, str(self.info.extra.get("endpoints", {}).get("s3", "")), request)
        if page is not None:  # GET /demo/uploader, local only
            return page
        match = self.router.match(request.method, request.path)
        if match.route is None:
            if request.method == "OPTIONS" and match.cors:
                return self._preflight(request, match.cors)
            # API Gateway has no method here (unknown path, another method, OPTIONS of a resource
            # without CORS): MISSING_AUTHENTICATION_TOKEN, 403 unless the API's gateway response says.
            return self._gateway_error(
                match.service,
                403,
                "MISSING_AUTHENTICATION_TOKEN",
                "Missing Authentication Token",
                str(uuid.uuid4()),
                request,
            )
        too_large = self._body_too_large(request)
        if too_large is not None:
            return self._gateway_error(
                match.route.service, 413, "REQUEST_TOO_LARGE", too_large, str(uuid.uuid4()), request
            )
        return self._invoke_route(request, match.route, match.path_parameters)

    def _usage_refusal(self, route: Route, usage_key: str | None) -> str | None:
        """API Gateway's usage plans on a method that requires an API key (`private: true`) with the
        key source AUTHORIZER: the gateway response type that refuses the request, or None."""
        plans = self.usage_plans.get(route.service.key)
        if not route.private or plans is None or plans.key_source != "AUTHORIZER":
            return None
        return plans.admit(usage_key, f"{route.resource}/{route.method}")

    @staticmethod
    def _body_too_large(request: Request) -> str | None:
        """API Gateway's 10 MB limit on a request body: the reason to refuse it, or None. A body
        without Content-Length is read up to one byte past the limit."""
        length = request.content_length
        if length is not None and length > API_GATEWAY_MAX_BODY_BYTES:
            return "Request Too Long"
        if length is None and request.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = request.stream.read(API_GATEWAY_MAX_BODY_BYTES + 1)
            if len(data) > API_GATEWAY_MAX_BODY_BYTES:
                return "Request Too Long"
            request._cached_data = data  # type: ignore[attr-defined]  # werkzeug's get_data() cache
        return None

    # ---- REST proxy

    def _invoke_route(self, request: Request, route: Route, path_parameters: dict[str, str]) -> Response:
        request_id = str(uuid.uuid4())
        name = f"{route.service.key}/{route.function.key} {request_id}"

        def fail(status: int, response_type: str, message: str) -> Response:
            return self._gateway_error(route.service, status, response_type, message, request_id, request)

        event = self.proxy_event(request, route, path_parameters, request_id)
        usage_left: dict[str, str] = {}
        if route.authorizer is not None:
            arn = method_arn(
                route.service.region, ACCOUNT_ID, api_id(route.service), self.stage, request.method, request.path
            )
            outcome = self.authorizers.authorize(route.authorizer, event, arn, api=route.service.key)
            if not outcome.allowed:
                return fail(outcome.status, outcome.response_type, outcome.message)
            event["requestContext"]["authorizer"] = outcome.authorizer_context
            refused = self._usage_refusal(route, outcome.usage_identifier_key)
            usage_left = self._usage_left(route, outcome.usage_identifier_key)
            if refused in ("THROTTLED", "QUOTA_EXCEEDED"):
                message = "Too Many Requests" if refused == "THROTTLED" else "Limit Exceeded"
                return self._gateway_error(
                    route.service, 429, refused, message, request_id, request, extra_headers=usage_left
                )
            if refused is not None:
                return fail(403, refused, "Forbidden")
        if len(json.dumps(event).encode("utf-8")) > LAMBDA_MAX_PAYLOAD_BYTES:
            # Lambda refuses the invocation (RequestEntityTooLargeException); API Gateway answers 413.
            log.info("%s %s: event over Lambda's 6 MB request payload -> 413", request.method, route.resource)
            return fail(413, "REQUEST_TOO_LARGE", "Request Too Long")
        try:
            result = self.runtime.invoke(route.function, event, request_id)
        except FunctionTimeout as exc:
            log.error("%s: %s (API Gateway answers 504)", name, exc)
            return fail(504, "INTEGRATION_TIMEOUT", "Endpoint request timed out")
        except FunctionError as exc:
            log.error("%s failed (API Gateway answers 502): %s: %s", name, exc.error_type, exc)
            return fail(502, "DEFAULT_5XX", "Internal server error")
        try:
            result_size = len(json.dumps(result).encode("utf-8"))
        except (TypeError, ValueError):
            result_size = 0  # not JSON: _lambda_response answers it as malformed
        if result_size > LAMBDA_MAX_RESULT_BYTES:
            # Lambda fails the invocation (response payload too large): API Gateway answers 502.
            log.error("%s: result over Lambda's 6 MB response payload -> 502", name)
            return fail(502, "DEFAULT_5XX", "Internal server error")
        response = self._lambda_response(route, result, request_id, request)
        response.headers.extend(usage_left)
        return response

    def _usage_left(self, route: Route, usage_key: str | None) -> dict[str, str]:
        """The `RateLimit` header of a request a usage plan counted (local only: API Gateway does not say)."""
        plans = self.usage_plans.get(route.service.key)
        if not route.private or plans is None or plans.key_source != "AUTHORIZER":
            return {}
        left = plans.remaining(usage_key)
        return {"RateLimit": left} if left else {}

    def proxy_event(
        self, request: Request, route: Route, path_parameters: dict[str, str], request_id: str
    ) -> dict[str, Any]:
        """The API Gateway REST (v1) proxy event for a request."""
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, values in request.args.lists():
            query[name] = values[-1]
            multi_query[name] = list(values)
        raw = request.get_data(cache=True)
        body: str | None = None
        is_base64 = False
        if raw:
            content_type = request.headers.get("Content-Type", "")
            try:
                if content_type and not _TEXT_TYPES.match(content_type.lower()):
                    raise UnicodeDecodeError("utf-8", b"", 0, 1, "binary content type")
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                body, is_base64 = base64.b64encode(raw).decode("ascii"), True
        now = datetime.now(UTC)
        source_ip = (
            request.headers.get("X-Forwarded-For", "").split(",")[0].strip() or request.remote_addr or "127.0.0.1"
        )
        return {
            "resource": route.resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": route.function.key,
                "resourcePath": route.resource,
                "httpMethod": request.method,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{self.stage}{request.path}",
                "accountId": ACCOUNT_ID,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "stage": self.stage,
                "domainPrefix": request.host.split(":")[0].split(".")[0],
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request_id,
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": None,
                    "cognitoIdentityId": None,
                    "caller": None,
                    "sourceIp": source_ip,
                    "principalOrgId": None,
                    "accessKey": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": None,
                    "userAgent": request.headers.get("User-Agent"),
                    "user": None,
                },
                "domainName": request.host,
                "apiId": api_id(route.service),
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }

    def _lambda_response(self, route: Route, result: Any, request_id: str, request: Request) -> Response:
        """A Lambda proxy result as the HTTP response (malformed results are a 502, as in API Gateway)."""
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int | str):
            log.error("%s/%s returned a malformed proxy response: %r", route.service.key, route.function.key, result)
            return self._gateway_error(route.service, 502, "DEFAULT_5XX", "Internal server error", request_id, request)
        headers = Headers()
        for name, value in (result.get("headers") or {}).items():
            headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if name in (result.get("headers") or {}):
                headers.pop(name)
            for value in values or []:
                headers.add(name, str(value))
        body = result.get("body")
        payload: bytes
        if body is None:
            payload = b""
        elif result.get("isBase64Encoded"):
            payload = base64.b64decode(body)
        else:
            payload = str(body).encode("utf-8")
        headers["X-Amzn-RequestId"] = request_id
        response = Response(payload, status=int(result["statusCode"]), headers=headers)
        if "Content-Type" not in headers:
            response.headers["Content-Type"] = "application/json"
        return response

    def _gateway_error(
        self,
        service: ServiceConfig | None,
        status: int,
        response_type: str,
        message: str,
        request_id: str,
        request: Request | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> Response:
        """A gateway-generated error, rendered with the service's GatewayResponse when it has one
        (its status, body template and headers), else as API Gateway's default {"message": ...}."""
        if service is None:  # no API owns the path: the gateway responses any API declares
            service = next((s for s in self.project.services() if self._responses.get(s.key)), None)
        responses = self._responses.get(service.key, {}) if service is not None else {}
        family = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        configured = responses.get(response_type) or responses.get(family)
        headers = {"x-amzn-ErrorType": _error_type(response_type), "X-Amzn-RequestId": request_id}
        headers.update(extra_headers or {})
        if configured is None:
            return self._json(status, json.dumps({"message": message}), headers)
        template = configured.templates.get("application/json")
        values = {
            "context.error.message": message,
            "context.error.messageString": json.dumps(message),
            "context.error.responseType": response_type or family,
            "context.error.validationErrorString": "",
            "context.requestId": request_id,
            "context.extendedRequestId": request_id,
            "context.stage": self.stage,
            "context.resourcePath": "",
        }
        body = render_template(template, values) if template is not None else json.dumps({"message": message})
        final_status = configured.status or _DEFAULT_STATUS.get(response_type, status)
        return self._json(final_status, body, {**headers, **configured.render_headers(request)})

    @staticmethod
    def _json(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
        return Response(body, status=status, headers=headers or {}, content_type="application/json")

    @staticmethod
    def _preflight(request: Request, cors: dict[str, Any]) -> Response:
        """What the OPTIONS method Serverless makes from the resource's `cors:` answers (a MOCK
        integration): the first origin, or the request's Origin when it matches one of them."""
        origins = cors_origins(cors)
        origin = request.headers.get("Origin", "")
        headers = {
            "Access-Control-Allow-Origin": origin if len(origins) > 1 and origin_allowed(origin, cors) else origins[0],
            "Access-Control-Allow-Headers": ",".join(cors.get("headers") or DEFAULT_CORS_HEADERS),
            "Access-Control-Allow-Methods": ",".join(cors.get("methods") or ["OPTIONS"]),
        }
        if cors.get("allowCredentials"):
            headers["Access-Control-Allow-Credentials"] = "true"
        if cors.get("maxAge"):
            headers["Access-Control-Max-Age"] = str(cors["maxAge"])
        if cors.get("cacheControl"):
            headers["Cache-Control"] = str(cors["cacheControl"])
        return Response(b"", status=200, headers=headers, content_type="application/json")


def _error_type(response_type: str) -> str:
    """The x-amzn-ErrorType API Gateway sends with a gateway response."""
    return {
        "UNAUTHORIZED": "UnauthorizedException",
        "ACCESS_DENIED": "AccessDeniedException",
        "AUTHORIZER_CONFIGURATION_ERROR": "AuthorizerConfigurationException",
        "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
        "THROTTLED": "TooManyRequestsException",
        "QUOTA_EXCEEDED": "LimitExceededException",
        "REQUEST_TOO_LARGE": "RequestTooLargeException",
        "INVALID_API_KEY": "ForbiddenException",
    }.get(response_type, "InternalServerErrorException")
