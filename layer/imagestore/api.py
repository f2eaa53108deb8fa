"""REST API plumbing shared by every service: the resolver, request parsing and the one place
where domain errors become HTTP responses."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from pydantic import BaseModel, ValidationError

from imagestore import bodies, cors, errors, preconditions, tenants
from imagestore.auth import Principal
from imagestore.config import get_settings
from imagestore.observability import logger
from imagestore.ratelimit import POLICY_CONTEXT_KEY

ModelT = TypeVar("ModelT", bound=BaseModel)

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.Unprocessable: 422,
    errors.PreconditionRequired: 428,
    errors.Throttled: 429,
    errors.Unavailable: 503,
}


RETRY_AFTER_SECONDS = "1"
# A 400 lists at most this many of a body's problems, each field path and message cut to a bounded length
# (a body may have 100,000 unknown keys, or one key of 4 MiB): an answer of a few KB whatever the request.
MAX_PROBLEMS = 20
MAX_PROBLEM_FIELD_CHARS = 200
MAX_PROBLEM_MESSAGE_CHARS = 300


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, *, retry: bool = False
) -> Response[str]:
    """The API's error shape: {"error": {"code", "message", "details"?}} (the resolver adds "requestId");
    Retry-After on 429 and
    on any error a retry may get past."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 429 or retry else None
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": error}),
        headers=headers,
    )


def validation_details(exc: ValidationError) -> dict[str, Any]:
    """A 400's details: the first MAX_PROBLEMS problems (field path, message: each cut short), and when
    there were more, how many in all and how many were left out."""
    count = exc.error_count()
    problems = [
        {
            "field": _cut(".".join(str(part) for part in error["loc"]), MAX_PROBLEM_FIELD_CHARS),
            "message": _cut(error["msg"], MAX_PROBLEM_MESSAGE_CHARS),
        }
        for error in exc.errors(include_url=False, include_input=False, include_context=False)[:MAX_PROBLEMS]
    ]
    details: dict[str, Any] = {"problems": problems}
    if count > len(problems):
        details.update(problemCount=count, omittedProblems=count - len(problems))
    return details


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def status_of(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


class Resolver(APIGatewayRestResolver):
    """The REST resolver; every answer, errors included, carries the CORS headers of its request."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        result = with_request_id(super().resolve(event, context), (event.get("requestContext") or {}).get("requestId"))
        settings = get_settings()
        tenant_id = ((event.get("requestContext") or {}).get("authorizer") or {}).get("tenantId")
        tenant_origins = _tenant_origins(tenant_id) if isinstance(tenant_id, str) else None
        headers = cors.cors_headers(cors.request_origin(event.get("headers")), settings.cors_origins, tenant_origins)
        rate_limit_policy = ((event.get("requestContext") or {}).get("authorizer") or {}).get(POLICY_CONTEXT_KEY)
        if isinstance(rate_limit_policy, str) and rate_limit_policy:
            headers["RateLimit-Policy"] = rate_limit_policy  # the caller's usage plan (imagestore.ratelimit)
        return cors.add_headers(result, headers)


def _tenant_origins(tenant_id: str) -> tuple[str, ...] | None:
    """The tenant's own CORS origins; none at all when its registry entry cannot be read (its
    answer, an error, still reaches the client; a browser is not let read it)."""
    try:
        return tenants.tenant_settings(tenant_id).cors_origins
    except errors.DomainError:
        return ()


def with_request_id(result: dict[str, Any], request_id: Any) -> dict[str, Any]:
    """An error answer's body with `error.requestId`: the id API Gateway answers in X-Amzn-RequestId
    and logs under, so that a client can report the failed request (answers below 400 are untouched)."""
    if int(result.get("statusCode") or 0) < 400 or not isinstance(request_id, str) or result.get("isBase64Encoded"):
        return result
    try:
        body = json.loads(result.get("body") or "")
    except ValueError:
        return result
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body["error"]["requestId"] = request_id
        result["body"] = json.dumps(body)
    return result


def create_app() -> APIGatewayRestResolver:
    """A REST resolver whose errors all come out as JSON with the right status."""
    app = Resolver()

    # Registered by calls rather than as decorators: Powertools' exception_handler is untyped, and a
    # decorator that returns Any would make each handler untyped too (mypy --strict).
    def _domain_error(exc: errors.DomainError) -> Response[str]:
        status = status_of(exc)
        logger.info("request refused", status=status, code=exc.code, reason=exc.message)
        return error_response(status, exc.code, exc.message, exc.details, retry=exc.retryable)

    def _transaction_conflict(exc: errors.TransactionConflict) -> Response[str]:
        logger.info("transaction cancelled", status=409, reasons=exc.reasons)
        return error_response(
            409,
            "transaction_conflict",
            "a concurrent change to the same items won; retry the request",
            {"retryable": True},
            retry=True,
        )

    def _validation_error(exc: ValidationError) -> Response[str]:
        return error_response(400, "bad_request", "request body is invalid", validation_details(exc))

    def _not_found(_: Exception) -> Response[str]:
        event = app.current_event
        return error_response(404, "not_found", f"no route for {event.http_method} {event.path}")

    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; it has been logged")

    app.exception_handler(errors.DomainError)(_domain_error)
    app.exception_handler(errors.TransactionConflict)(_transaction_conflict)
    app.exception_handler(ValidationError)(_validation_error)
    app.not_found(_not_found)
    app.exception_handler(Exception)(_unexpected)
    return app


def versioned(view: BaseModel, version: int, status: int = 200) -> Response[str]:
    """A versioned resource's answer: its JSON (by alias, as every answer) and its ETag."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=view.model_dump_json(by_alias=True),
        headers={"ETag": preconditions.etag(version)},
    )


def not_modified(version: int) -> Response[str]:
    """304: the client's copy (If-None-Match) is the current version; no body."""
    return Response(status_code=304, body=None, headers={"ETag": preconditions.etag(version)})


def principal(app: APIGatewayRestResolver) -> Principal:
    """The caller, as the authorizer described it; 401 once its token's exp has passed (API Gateway
    caches the authorizer's answer for minutes, longer than a token may have left); 403 when its tenant
    is disabled (or unknown, on a stage that refuses unknown tenants)."""
    caller = Principal.from_context(app.current_event.raw_event.get("requestContext", {}).get("authorizer"))
    caller.require_unexpired(time.time())  # the wall clock, as the authorizer's JWT check
    # API Gateway caches the authorizer's answer too: the registry (cached for tenant_cache_seconds) is
    # asked on every call, so a disabled tenant is refused within that time.
    tenants.require_active(caller.tenant_id)
    return caller


def parse_body(app: APIGatewayRestResolver, model: type[ModelT]) -> ModelT:
    """The JSON body validated into `model`; malformed JSON or fields are a 400, a body over
    bodies.MAX_BODY_BYTES a 413."""
    return model.model_validate(bodies.json_object(raw_body(app)))


def raw_body(app: APIGatewayRestResolver) -> bytes:
    """The request body's bytes as the client sent them (API Gateway base64-encodes binary bodies)."""
    event = app.current_event
    body = event.body
    if not body:
        return b""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body.encode("ascii"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.BadRequest("request body is not valid base64") from exc
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: bytes that were not UTF-8
        raise errors.BadRequest("request body is not valid UTF-8") from exc


def int_query(app: APIGatewayRestResolver, name: str) -> int | None:
    """An integer query parameter, or None; anything else is a 400."""
    value = app.current_event.get_query_string_value(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise errors.BadRequest(f"query parameter {name} must be an integer") from exc
