"""Logger, tracer and metrics; each service names itself with POWERTOOLS_SERVICE_NAME.

`tracer` and `metrics` are built on first use (module __getattr__), so a function that only logs
(the authorizer) never loads the X-Ray SDK, and through it botocore. The tracer patches botocore only:
Powertools' default patches every library the X-Ray SDK knows (requests, httplib, ...), importing each.

Where POWERTOOLS_TRACE_DISABLED is true (the deployed default, see the `powertoolsTraceDisabled`
param of each serverless.yml), `tracer` is an `NullTracer` and the X-Ray SDK is never imported:
Powertools' own disabled Tracer still imports it (about 25 ms of every cold start). Lambda's active
tracing still records every sampled invocation; the SDK adds a subsegment per AWS call.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from imagestore.config import sdk_tracing_disabled

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics, Tracer

    tracer: Tracer
    metrics: Metrics

logger = Logger()


class NullTracer:
    """The part of Powertools' Tracer the handlers use, doing nothing (tracing by the SDK is off)."""

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any] | None = None,
                               capture_response: bool | None = None,
                               capture_error: bool | None = None) -> Any:
        if lambda_handler is None:
            return lambda function: function
        return lambda_handler

    capture_method = capture_lambda_handler

    def put_annotation(self, key: str, value: Any) -> None:
        """Annotations go nowhere without the SDK."""


@cache
def _tracer() -> Tracer | NullTracer:
    if sdk_tracing_disabled():
        return NullTracer()
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=("botocore",))


@cache
def _metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    return Metrics()


def __getattr__(name: str) -> Any:
    if name == "tracer":
        return _tracer()
    if name == "metrics":
        return _metrics()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
