"""Cold start: the cyclic garbage collector waits until a new execution environment has served its
first request.

Loading a function (boto3, pydantic, Powertools, our modules) and making its clients creates several
hundred thousand objects that live as long as the environment, and none is garbage; while they are
created the collector walks them again and again, about 15 % of a cold start here
(benchmarks/cold_start.py). In a Lambda execution environment (LAMBDA_TASK_ROOT, which the runtime
sets) `imagestore` pauses the collector when it is first imported (imagestore/__init__), and the
handler's outermost decorator, `resume_gc_after_first_call`, resumes it when the first invocation
returns: what exists then is frozen (gc.freeze: never walked again) and collection goes on as usual.
Elsewhere (tests, the local stack) nothing is paused and the decorator changes nothing.

LAMBDA_TASK_ROOT is read here, not in imagestore.config: config imports pydantic, whose import is
part of what the pause is for.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])

_paused = False


def pause_gc_while_loading() -> None:
    """Pause the collector in a Lambda execution environment, once (imagestore/__init__)."""
    global _paused
    if os.environ.get("LAMBDA_TASK_ROOT") and gc.isenabled() and not _paused:
        gc.disable()
        _paused = True


def resume_gc_after_first_call(handler: Handler) -> Handler:
    """The handler, resuming the paused collector when its first invocation returns (or raises)."""

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if _paused:
                _resume()

    return invoke  # type: ignore[return-value]


def _resume() -> None:
    global _paused
    _paused = False
    gc.freeze()
    gc.enable()
