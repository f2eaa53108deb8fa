"""Lambda authorizers run the way API Gateway runs them: identity check, cache, policy, context."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from imagestore_local.lambda_runtime import LambdaRuntime
from imagestore_local.policy import Decision, evaluate_policy
from imagestore_local.routing import AuthorizerSpec

log = logging.getLogger("imagestore_local.authorizer")


@dataclass
class AuthOutcome:
    """What the gateway does next: allow (with requestContext.authorizer) or answer with an error."""

    status: int  # 200 when allowed
    response_type: str = ""  # API Gateway gateway response type when refused
    message: str = ""
    authorizer_context: dict[str, Any] | None = None
    usage_identifier_key: str | None = None  # the API key of the caller's usage plan, when named

    @property
    def allowed(self) -> bool:
        """True when the request may reach the integration."""
        return self.status == 200


UNAUTHORIZED = AuthOutcome(401, "UNAUTHORIZED", "Unauthorized")


def identity_values(
    spec: AuthorizerSpec,
    headers: dict[str, str],
    query: dict[str, str],
    stage_variables: dict[str, str] | None = None,
) -> tuple[str, ...] | None:
    """Values of the identity sources, or None when one is missing or empty."""
    lowered = {name.lower(): value for name, value in headers.items()}
    values: list[str] = []
    for source in spec.identity_sources:
        value: str | None = None
        if source.startswith("method.request.header."):
            value = lowered.get(source.removeprefix("method.request.header.").lower())
        elif source.startswith("method.request.querystring."):
            value = query.get(source.removeprefix("method.request.querystring."))
        elif source.startswith("stageVariables."):
            value = (stage_variables or {}).get(source.removeprefix("stageVariables."))
        elif source.startswith("context."):
            value = "local"
        if not value:
            return None
        values.append(value)
    return tuple(values)


def stringify_context(context: dict[str, Any]) -> dict[str, str]:
    """API Gateway passes context values on as strings; objects and arrays are refused."""
    out: dict[str, str] = {}
    for key, value in context.items():
        if isinstance(value, dict | list):
            raise ValueError(f"authorizer context value {key!r} is an object or array")
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif value is None:
            continue
        else:
            out[key] = str(value)
    return out


class AuthorizerRunner:
    """Invokes authorizers and caches their results per (authorizer, identity) for resultTtlInSeconds."""

    def __init__(self, runtime: LambdaRuntime) -> None:
        self.runtime = runtime
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def authorize(
        self, spec: AuthorizerSpec, request_event: dict[str, Any], method_arn: str, api: str = ""
    ) -> AuthOutcome:
        """Run (or reuse) the authorizer of one API for a request; evaluate its policy against method_arn."""
        headers = request_event.get("headers") or {}
        query = request_event.get("queryStringParameters") or {}
        identity = identity_values(spec, headers, query, request_event.get("stageVariables"))
        if identity is None:
            log.info("authorizer %s: identity source missing -> 401", spec.cache_id)
            return UNAUTHORIZED
        validation = spec.identity_validation
        if spec.type == "token" and validation and not re.fullmatch(validation, identity[0]):
            return UNAUTHORIZED
        key = (f"{api}:{spec.cache_id}", identity)  # each REST API has its own authorizer cache
        result = self._cached(key) if spec.ttl > 0 else None
        if result is None:
            event = self._event(spec, request_event, method_arn, identity)
            try:
                result = self.runtime.invoke(spec.function, event)
            except Exception as exc:
                if str(exc) == "Unauthorized":
                    return UNAUTHORIZED
                log.exception("authorizer %s failed -> 500", spec.cache_id)
                return AuthOutcome(500, "AUTHORIZER_CONFIGURATION_ERROR", "Authorizer error")
            if not isinstance(result, dict) or "policyDocument" not in result or "principalId" not in result:
                log.error("authorizer %s returned no principalId/policyDocument: %r", spec.cache_id, result)
                return AuthOutcome(500, "AUTHORIZER_CONFIGURATION_ERROR", "Authorizer error")
            if spec.ttl > 0:
                with self._lock:
                    self._cache[key] = (time.monotonic() + spec.ttl, result)
        decision = evaluate_policy(result["policyDocument"], method_arn)
        if decision is Decision.EXPLICIT_DENY:
            return AuthOutcome(
                403, "ACCESS_DENIED", "User is not authorized to access this resource with an explicit deny"
            )
        if decision is Decision.IMPLICIT_DENY:
            return AuthOutcome(403, "ACCESS_DENIED", "User is not authorized to access this resource")
        try:
            context = stringify_context(dict(result.get("context") or {}))
        except ValueError:
            log.exception("authorizer %s: invalid context -> 500", spec.cache_id)
            return AuthOutcome(500, "AUTHORIZER_CONFIGURATION_ERROR", "Authorizer error")
        context["principalId"] = str(result["principalId"])
        usage_key = result.get("usageIdentifierKey")
        return AuthOutcome(200, authorizer_context=context, usage_identifier_key=str(usage_key) if usage_key else None)

    def _cached(self, key: tuple[str, tuple[str, ...]]) -> dict[str, Any] | None:
        """A cached result that has not expired."""
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._cache[key]
                return None
            return entry[1]

    def clear(self) -> None:
        """Forget every cached result."""
        with self._lock:
            self._cache.clear()

    @staticmethod
    def _event(
        spec: AuthorizerSpec, request: dict[str, Any], method_arn: str, identity: tuple[str, ...]
    ) -> dict[str, Any]:
        """The event API Gateway sends a REQUEST or TOKEN authorizer."""
        if spec.type == "token":
            return {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": method_arn}
        context = {key: value for key, value in request["requestContext"].items() if key != "authorizer"}
        return {
            "type": "REQUEST",
            "methodArn": method_arn,
            "resource": request["resource"],
            "path": request["path"],
            "httpMethod": request["httpMethod"],
            "headers": request["headers"],
            "multiValueHeaders": request["multiValueHeaders"],
            "queryStringParameters": request["queryStringParameters"] or {},
            "multiValueQueryStringParameters": request["multiValueQueryStringParameters"] or {},
            "pathParameters": request["pathParameters"] or {},
            "stageVariables": request["stageVariables"] or {},
            "requestContext": json.loads(json.dumps(context)),
        }
