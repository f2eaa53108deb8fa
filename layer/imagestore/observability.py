"""Logger, tracer and metrics; each service names itself with POWERTOOLS_SERVICE_NAME.

`tracer` and `metrics` are built on first use (module __getattr__), so a function that only logs
(the authorizer) never loads the X-Ray SDK, and through it botocore. The tracer patches botocore only:
Powertools' default patches every library the X-Ray SDK knows (requests, httplib, ...), importing each.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics, Tracer

    tracer: Tracer
    metrics: Metrics

logger = Logger()


@cache
def _tracer() -> Tracer:
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
