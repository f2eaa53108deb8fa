"""Runs Lambda handlers in this process: lazy import, a LambdaContext look-alike, timing."""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imagestore_local.config_loader import FunctionDef

log = logging.getLogger("imagestore_local.lambda")


class HandlerImportError(RuntimeError):
    """The handler's module or attribute cannot be loaded."""


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_epoch_ms: float
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int(self.deadline_epoch_ms - time.time() * 1000))


def make_context(fn: FunctionDef, request_id: str | None = None) -> LambdaContext:
    """A context for one invocation of fn."""
    return LambdaContext(
        function_name=fn.name,
        function_version="$LATEST",
        invoked_function_arn=fn.arn,
        memory_limit_in_mb=fn.memory_size,
        aws_request_id=request_id or str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{fn.name}",
        log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        deadline_epoch_ms=time.time() * 1000 + fn.timeout * 1000,
    )


def split_handler(handler: str) -> tuple[str, str]:
    """'file_service/handlers/uploads.handler' -> ('file_service.handlers.uploads', 'handler')."""
    module_path, _, attribute = handler.rpartition(".")
    if not module_path or not attribute:
        raise HandlerImportError(f"handler {handler!r} is not <module path>.<function>")
    module = module_path.replace("/", ".").replace("\\", ".")
    module = module.removesuffix(".py")
    return module, attribute


_METRICS_LOCK = threading.RLock()


def serialize_metric_updates() -> None:
    """Make Powertools' metric set safe to share between threads (idempotent).

    Powertools keeps one metric set per process: in Lambda one invocation runs at a time per process, but
    here invocations of every function run on threads of one process. Without this, one invocation flushes
    another's metrics between its emptiness check and its serialization and fails with SchemaValidationError
    ("Must contain at least one metric"), a 502 that Lambda would never give.
    """
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    if getattr(AmazonCloudWatchEMFProvider, "_imagestore_local_locked", False):
        return
    for name in ("add_metric", "add_dimension", "add_dimensions", "add_metadata", "serialize_metric_set",
                 "flush_metrics", "clear_metrics"):
        method = getattr(AmazonCloudWatchEMFProvider, name)

        @functools.wraps(method)
        def locked(self: Any, *args: Any, _original: Callable[..., Any] = method, **kwargs: Any) -> Any:
            with _METRICS_LOCK:
                return _original(self, *args, **kwargs)

        setattr(AmazonCloudWatchEMFProvider, name, locked)
    AmazonCloudWatchEMFProvider._imagestore_local_locked = True  # type: ignore[attr-defined]


class LambdaRuntime:
    """Imports handlers on first use and invokes them with an event and a context."""

    def __init__(self) -> None:
        serialize_metric_updates()
        self._handlers: dict[tuple[str, str], Callable[[Any, Any], Any]] = {}
        self._failed: set[tuple[str, str]] = set()  # import tracebacks are logged once per function
        self._lock = threading.Lock()

    def load(self, fn: FunctionDef) -> Callable[[Any, Any], Any]:
        """The handler callable of fn (imported once; a failed import is retried next call)."""
        key = (fn.service.key, fn.key)
        handler = self._handlers.get(key)
        if handler is not None:
            return handler
        with self._lock:
            if key in self._handlers:
                return self._handlers[key]
            directory = str(fn.service.directory)
            if directory not in sys.path:
                sys.path.insert(0, directory)
            module_name, attribute = split_handler(fn.handler)
            started = time.perf_counter()
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                if key in self._failed:
                    log.error("%s/%s: cannot import %s: %s", fn.service.key, fn.key, module_name, exc)
                else:
                    log.exception("%s/%s: cannot import %s", fn.service.key, fn.key, module_name)
                    self._failed.add(key)
                raise HandlerImportError(f"cannot import {module_name}: {exc}") from exc
            handler = getattr(module, attribute, None)
            if not callable(handler):
                raise HandlerImportError(f"{module_name} has no callable {attribute!r}")
            log.info(
                "%s/%s: imported %s in %.0f ms",
                fn.service.key,
                fn.key,
                fn.handler,
                (time.perf_counter() - started) * 1000,
            )
            self._handlers[key] = handler
            return handler

    def invoke(self, fn: FunctionDef, event: Any, request_id: str | None = None) -> Any:
        """Invoke fn with event; exceptions propagate (as the Lambda service reports them)."""
        handler = self.load(fn)
        context = make_context(fn, request_id)
        started = time.perf_counter()
        try:
            return handler(event, context)
        finally:
            elapsed = time.perf_counter() - started
            if elapsed > fn.timeout:
                log.warning(
                    "%s/%s took %.1f s, over its %.0f s timeout (Lambda would have stopped it)",
                    fn.service.key,
                    fn.key,
                    elapsed,
                    fn.timeout,
                )
            log.debug("%s/%s finished in %.0f ms", fn.service.key, fn.key, elapsed * 1000)
