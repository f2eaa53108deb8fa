"""API Gateway REST proxy events and Lambda contexts, as the gateway would send them."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from imagestore.auth import Principal


@dataclass
class LambdaContext:
    function_name: str = "test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def api_event(
    method: str,
    resource: str,
    *,
    principal: Principal | None,
    body: Any = None,
    path_params: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """A REST (v1) proxy event for `resource` (e.g. /files/{fileId}) with its path filled in."""
    path_params = path_params or {}
    path = re.sub(r"\{(\w+)\+?\}", lambda m: path_params[m.group(1)], resource)
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    request_headers = {"Content-Type": "application/json", **(headers or {})}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": request_headers,
        "multiValueHeaders": {k: [v] for k, v in request_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/test{path}",
            "stage": "test",
            "requestId": str(uuid.uuid4()),
            "accountId": "123456789012",
            "apiId": "testapi",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": (
                {"principalId": f"{principal.tenant_id}|{principal.user_id}", **principal.to_context()}
                if principal
                else None
            ),
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }


def call(handler: Any, event: dict[str, Any]) -> tuple[int, Any]:
    """Invoke a handler; (status, parsed JSON body or None)."""
    response = handler(event, LambdaContext())
    body = response.get("body")
    return response["statusCode"], (json.loads(body) if body else None)
