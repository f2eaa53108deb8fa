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
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger

from imagestore import startup
from imagestore.config import sdk_tracing_disabled
from imagestore.startup import Handler

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics, Tracer

    tracer: Tracer
    metrics: Metrics

logger = Logger()


class NullTracer:
    """The part of Powertools' Tracer the handlers use, doing nothing (tracing by the SDK is off)."""

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Any:
        if lambda_handler is None:
            return lambda function: function
        return lambda_handler


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


def lambda_handler(correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """What every function's handler wears (the authorizer's aside), outermost first: the collector
    resumes after the first invocation (imagestore.startup), the Lambda context (and the request's
    correlation id) in every log line, a trace of the invocation without its response, the metrics
    flushed when it returns."""

    def wear(handler: Handler) -> Handler:
        traced = _tracer().capture_lambda_handler(_metrics().log_metrics(handler), capture_response=False)
        logged = logger.inject_lambda_context(traced, correlation_id_path=correlation_id_path, clear_state=True)
        return cast(Handler, startup.resume_gc_after_first_call(logged))

    return wear


def __getattr__(name: str) -> Any:
    if name == "tracer":
        return _tracer()
    if name == "metrics":
        return _metrics()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
