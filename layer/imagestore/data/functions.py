"""Asynchronous invocations of a Lambda function (the sweep starting its runs)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from imagestore.errors import Throttled

_THROTTLING = {
    "TooManyRequestsException",
    "ThrottlingException",
    "EC2ThrottledException",
    "ServiceException",
    "ResourceNotReadyException",
}


class FunctionInvoker:
    """Lambda Invoke with InvocationType Event: queued by Lambda, retried by it, answered at once."""

    def __init__(self, client: Any | Callable[[], Any]) -> None:
        self._client = client

    def invoke_async(self, function: str, event: Mapping[str, Any]) -> None:
        """Queue one invocation of function (name or ARN) with event; Throttled when Lambda refuses for now."""
        client = self._client() if callable(self._client) else self._client
        try:
            client.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _THROTTLING:
                raise Throttled("Lambda refused the invocation for now; retry") from exc
            raise
