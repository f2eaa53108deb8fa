"""Lambda's execution model locally: worker processes per function, synchronous and asynchronous invocation.

Each function has worker processes of its own (worker.py), each running one invocation at a time, up to
the function's concurrency: IMAGESTORE_LOCAL_CONCURRENCY (default 4, `run --concurrency`), or
`IMAGESTORE_LOCAL_CONCURRENCY=4,file/previews=8` per function, never above its `reservedConcurrency`.
A request that finds every worker busy waits for one. A new worker is a cold start (logged with its init
time); a worker lives until the stack stops or it fails. An invocation past the function's `timeout` (times
IMAGESTORE_LOCAL_TIMEOUT_SCALE, default 1: a busy laptop is slower than Lambda) has its worker killed
(FunctionTimeout: the gateway answers 504). A worker that dies (killed, os._exit) is a
FunctionError Runtime.ExitError.

Asynchronous invocation (S3 events, EventBridge rules and schedules, Lambda Invoke with InvocationType
Event) is one path, `invoke_async`: queued, delayed as asked, run up to the function's concurrency; a
failed attempt is retried `maximumRetryAttempts` times (default 2) after IMAGESTORE_LOCAL_ASYNC_RETRY_SECONDS
(1, doubled; AWS waits about 1 and 2 minutes) while the event is younger than `maximumEventAge`; then the
event goes to the function's `destinations.onFailure` or `onError` (the dead-letter queue the template names):
a JSON line of Lambda's on-failure record in <data>/dead-letters/<queue name>.jsonl, and an error in the log.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from imagestore_local.config_loader import FunctionDef
from imagestore_local.faults import ENV, Faults
from imagestore_local.worker import json_default

log = logging.getLogger("imagestore_local.lambda")

DEFAULT_CONCURRENCY = 4
# Set in a worker before each invocation from the stack's current values (the clock can move while it lives).
LIVE_ENV = ("IMAGESTORE_CLOCK_OFFSET_SECONDS", ENV)
_OUTPUT_LOCK = threading.Lock()


class FunctionError(RuntimeError):
    """The invocation failed as Lambda reports it (errorType, errorMessage); str() is the message."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class HandlerImportError(FunctionError):
    """The handler's module or attribute cannot be loaded (the worker's init failed)."""


class FunctionTimeout(FunctionError):
    """The invocation ran past the function's timeout and its worker was killed."""


def concurrency_of(fn: FunctionDef, setting: str | None = None) -> int:
    """The function's local concurrency (see the module doc)."""
    setting = setting if setting is not None else os.environ.get("IMAGESTORE_LOCAL_CONCURRENCY", "")
    value = DEFAULT_CONCURRENCY
    for part in (p.strip() for p in setting.split(",") if p.strip()):
        name, _, number = part.rpartition("=")
        if not name or name in (f"{fn.service.key}/{fn.key}", fn.name):
            value = int(number)
    reserved = ((fn.service.config.get("functions") or {}).get(fn.key) or {}).get("reservedConcurrency")
    if isinstance(reserved, int) and reserved > 0:
        value = min(value, reserved)
    return max(1, value)


class Zygote:
    """worker.py's zygote: one process that has imported what every handler imports, forking a worker per cold
    start (so a cold start costs the function's own imports, not the SDK's and Powertools' again)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._control: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def fork(self, directory: str, handler: str, env: dict[str, str]) -> tuple[int, socket.socket, int]:
        """(pid, the worker's channel, the read end of its output pipe)."""
        parent, child = socket.socketpair()
        out_read, out_write = os.pipe()
        try:
            with self._lock:
                if self._process is None or self._process.poll() is not None:
                    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                    self._process = subprocess.Popen(
                        [sys.executable, "-m", "imagestore_local.worker", "--zygote", str(theirs.fileno())],
                        pass_fds=(theirs.fileno(),),
                        stdin=subprocess.DEVNULL,
                    )
                    theirs.close()
                    self._control = ours
                assert self._control is not None
                message = json.dumps({"directory": directory, "handler": handler, "env": env}).encode()
                socket.send_fds(self._control, [message], [child.fileno(), out_write])
                self._control.settimeout(60)
                pid = int(json.loads(self._control.recv(1 << 16))["pid"])
        except BaseException:
            parent.close()
            os.close(out_read)
            raise
        finally:
            child.close()
            os.close(out_write)
        return pid, parent, out_read

    def stop(self) -> None:
        with self._lock:
            if self._control is not None:
                self._control.close()
            if self._process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=5)
                if self._process.poll() is None:
                    self._process.kill()
                    self._process.wait()


class Worker:
    """One execution environment of a function: a process forked by the zygote and the socket it answers on."""

    def __init__(
        self, fn: FunctionDef, env: dict[str, str], zygote: Zygote, faults: Counter[str] | None = None
    ) -> None:
        self.fn = fn
        self.timeout = fn.timeout * float(os.environ.get("IMAGESTORE_LOCAL_TIMEOUT_SCALE") or 1)
        self.faults = faults if faults is not None else Counter()
        self._exited = False
        started = time.perf_counter()
        self.pid, self.socket, output = zygote.fork(str(fn.service.directory), fn.handler, env)
        self._output = os.fdopen(output, "rb")
        threading.Thread(target=self._relay_output, name=f"log-{fn.key}", daemon=True).start()
        self.reader, self.writer = self.socket.makefile("rb"), self.socket.makefile("wb")
        hello = self._receive(max(self.timeout, 10.0))
        if "initError" in hello:
            self.kill()
            raise HandlerImportError(hello["initError"]["errorType"], hello["initError"]["errorMessage"])
        log.info(
            "%s/%s: cold start, worker %d, init %.0f ms (%.0f ms with the fork)",
            fn.service.key,
            fn.key,
            self.pid,
            hello.get("initMs", 0),
            (time.perf_counter() - started) * 1000,
        )

    def _relay_output(self) -> None:
        """The worker's output to the stack's, a whole line at a time (as each Lambda environment has a log
        stream of its own: lines of workers never interleave)."""
        for line in self._output:
            view = memoryview(line if line.endswith(b"\n") else line + b"\n")
            with _OUTPUT_LOCK, contextlib.suppress(OSError):
                while view:
                    view = view[os.write(1, view) :]

    def _receive(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            self.socket.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                line = self.reader.readline()
            except TimeoutError:
                self.kill()
                raise FunctionTimeout("Sandbox.Timedout", f"Task timed out after {self.timeout:.2f} seconds") from None
            if not line:
                self._exited = True
                raise FunctionError("Runtime.ExitError", f"worker {self.pid} exited")
            answer: dict[str, Any] = json.loads(line)
            if "fault" not in answer:
                return answer
            self.faults[answer["fault"]] += 1  # IMAGESTORE_FAULTS injected one (faults.py)

    def invoke(self, event: Any, request_id: str) -> Any:
        """One invocation; FunctionError when the handler raised, timed out or its process died."""
        deadline = time.time() + self.timeout
        request = {
            "event": event,
            "requestId": request_id,
            "deadlineMs": deadline * 1000,
            "env": {name: os.environ.get(name, "") for name in LIVE_ENV},
        }
        try:
            self.writer.write(json.dumps(request, default=json_default).encode() + b"\n")
            self.writer.flush()
        except OSError:
            self._exited = True
            raise FunctionError("Runtime.ExitError", f"worker {self.pid} exited") from None
        answer = self._receive(self.timeout)
        if "error" in answer:
            raise FunctionError(answer["error"].get("errorType", "Error"), answer["error"].get("errorMessage", ""))
        return answer.get("result")

    def alive(self) -> bool:
        return not self._exited

    def kill(self) -> None:
        if not self._exited:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self._exited = True
        self.socket.close()

    def stop(self) -> None:
        """End the worker: EOF on its socket (it exits), SIGKILL after 2 s."""
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_WR)
        self.socket.settimeout(2)
        with contextlib.suppress(OSError):
            self.reader.read()
        self.kill()


class FunctionPool:
    """The workers of one function: reused when idle, started up to its concurrency, else waited for."""

    def __init__(
        self, fn: FunctionDef, concurrency: int, env: Callable[[], dict[str, str]], faults: Counter[str], zygote: Zygote
    ) -> None:
        self.fn = fn
        self.zygote = zygote
        self.faults = faults
        self.concurrency = concurrency
        self._env = env
        self._idle: list[Worker] = []
        self._count = 0
        self._stopped = False
        self._cond = threading.Condition()

    def _acquire(self) -> Worker:
        with self._cond:
            while True:
                if self._stopped:
                    raise FunctionError("Local.Stopped", "the local stack is stopping")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.concurrency:
                    self._count += 1
                    break
                self._cond.wait()
        try:
            return Worker(self.fn, self._env(), self.zygote, self.faults)
        except BaseException:
            self._release(None)
            raise

    def _release(self, worker: Worker | None, keep: bool = True) -> None:
        with self._cond:
            if worker is not None and keep and worker.alive() and not self._stopped:
                self._idle.append(worker)
            else:
                self._count -= 1
                if worker is not None:
                    worker.kill()
            self._cond.notify()

    def invoke(self, event: Any, request_id: str) -> Any:
        worker = self._acquire()
        keep = False
        started = time.perf_counter()
        try:
            result = worker.invoke(event, request_id)
            keep = True
            return result
        except FunctionError as exc:
            keep = not isinstance(exc, FunctionTimeout)
            raise
        finally:
            self._release(worker, keep)
            log.debug(
                "%s/%s %s finished in %.0f ms",
                self.fn.service.key,
                self.fn.key,
                request_id,
                (time.perf_counter() - started) * 1000,
            )

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            worker.stop()


class LambdaRuntime:
    """Every function's workers, and Lambda's asynchronous invocation queue."""

    def __init__(
        self,
        functions: list[FunctionDef] | None = None,
        dead_letter_dir: Path | None = None,
        concurrency: str | None = None,
        own_env: Callable[[FunctionDef], dict[str, str]] | None = None,
    ) -> None:
        self.functions = list(functions or [])
        self.own_env = own_env
        self.dead_letter_dir = dead_letter_dir
        self.concurrency = concurrency
        self.retry_seconds = float(os.environ.get("IMAGESTORE_LOCAL_ASYNC_RETRY_SECONDS") or 1.0)
        self._pools: dict[tuple[str, str], FunctionPool] = {}
        self.faults: Counter[str] = Counter()  # injected by IMAGESTORE_FAULTS, by kind
        self.zygote = Zygote()
        self._executors: dict[tuple[str, str], ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_cond = threading.Condition()
        self._sequence = itertools.count()
        self._stopping = threading.Event()
        self._timer_thread = threading.Thread(target=self._run_timers, name="lambda-async-timers", daemon=True)
        self._timer_thread.start()

    # ---- synchronous

    def environment(self, fn: FunctionDef) -> dict[str, str]:
        """A worker's environment: the stack's (own_env: the function's service and function variables
        applied over it), and the variables Lambda sets."""
        env = {**os.environ, **(self.own_env(fn) if self.own_env else {})}
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": fn.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
                "IMAGESTORE_LOCAL_FUNCTION_ARN": fn.arn,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def pool(self, fn: FunctionDef) -> FunctionPool:
        key = (fn.service.key, fn.key)
        with self._lock:
            if key not in self._pools:
                self._pools[key] = FunctionPool(
                    fn, concurrency_of(fn, self.concurrency), lambda: self.environment(fn), self.faults, self.zygote
                )
            return self._pools[key]

    def invoke(self, fn: FunctionDef, event: Any, request_id: str | None = None) -> Any:
        """Invoke fn with event and wait for its result; FunctionError as Lambda reports a failure."""
        return self.pool(fn).invoke(event, request_id or str(uuid.uuid4()))

    def find(self, name: str) -> FunctionDef | None:
        """A function by deployed name or ARN (an ARN with a qualifier too)."""
        for fn in self.functions:
            if name in (fn.name, fn.arn) or name.startswith(f"{fn.arn}:"):
                return fn
        return None

    # ---- asynchronous

    def invoke_async(
        self, fn: FunctionDef, event: Any, delay: float = 0.0, source: str = "async", faulty: bool = True
    ) -> Future[Any]:
        """Queue an asynchronous invocation; the future gets the result of the attempt that succeeded, or the
        last attempt's error once the event went to the function's on-failure destination."""
        future: Future[Any] = Future()
        if self._stopping.is_set():
            future.set_exception(FunctionError("Local.Stopped", "the local stack is stopping"))
            return future
        spec = (fn.service.config.get("functions") or {}).get(fn.key) or {}
        retries = int(spec.get("maximumRetryAttempts", 2))
        max_age = float(spec.get("maximumEventAge", 21600))
        queued = time.monotonic()
        request_id = str(uuid.uuid4())

        def attempt(number: int) -> None:
            try:
                result = self.invoke(fn, event, request_id)
            except FunctionError as exc:
                log.error(
                    "%s -> %s/%s failed (attempt %d of %d): %s: %s",
                    source,
                    fn.service.key,
                    fn.key,
                    number,
                    retries + 1,
                    exc.error_type,
                    exc,
                )
                wait = self.retry_seconds * 2 ** (number - 1)
                if number <= retries and time.monotonic() - queued + wait <= max_age and not self._stopping.is_set():
                    self._later(wait, lambda: self._submit(fn, lambda: attempt(number + 1)))
                    return
                self._dead_letter(fn, event, request_id, number, exc)
                future.set_exception(exc)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                log.info("%s -> %s/%s: %s", source, fn.service.key, fn.key, _short(result))
                future.set_result(result)

        faults = Faults.parse(os.environ.get(ENV)) if faulty else None
        if faults is not None:
            if faults.roll("event_late"):
                self.faults["event_late"] += 1
                delay += faults.rng.uniform(1.0, faults.late_seconds)
            elif faults.roll("event_reorder"):  # behind the events that follow it within a second
                self.faults["event_reorder"] += 1
                delay += faults.rng.uniform(0.2, 1.0)
            if faults.roll("event_duplicate"):  # at-least-once: the same event once more, on its own
                self.faults["event_duplicate"] += 1

                def again() -> None:
                    self.invoke_async(fn, event, source=f"{source} (delivered twice)", faulty=False)

                self._later(delay + faults.rng.uniform(0.0, 1.0), again)
        self._later(delay, lambda: self._submit(fn, lambda: attempt(1)))
        return future

    def _submit(self, fn: FunctionDef, job: Callable[[], None]) -> None:
        key = (fn.service.key, fn.key)
        with self._lock:
            if key not in self._executors:
                self._executors[key] = ThreadPoolExecutor(
                    concurrency_of(fn, self.concurrency), thread_name_prefix=f"async-{fn.key}"
                )
            executor = self._executors[key]
        with contextlib.suppress(RuntimeError):  # shut down: the stack is stopping
            executor.submit(job)

    def _later(self, delay: float, job: Callable[[], None]) -> None:
        with self._timer_cond:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._sequence), job))
            self._timer_cond.notify()

    def _run_timers(self) -> None:
        with self._timer_cond:
            while not self._stopping.is_set():
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    heapq.heappop(self._timers)[2]()
                self._timer_cond.wait(self._timers[0][0] - now if self._timers else None)

    def _dead_letter(self, fn: FunctionDef, event: Any, request_id: str, attempts: int, exc: FunctionError) -> None:
        """Lambda's on-failure record, to the destination (or DLQ) the template names."""
        spec = (fn.service.config.get("functions") or {}).get(fn.key) or {}
        target = ((spec.get("destinations") or {}).get("onFailure")) or spec.get("onError")
        if isinstance(target, dict) and "arn" in target:
            target = target["arn"]
        if isinstance(target, dict):
            from imagestore_local.cloudformation import Intrinsics

            with contextlib.suppress(Exception):
                target = Intrinsics(fn.service).evaluate(target)
        if not isinstance(target, str) or self.dead_letter_dir is None:
            log.error(
                "%s/%s: event dropped after %d attempts (no on-failure destination): %s",
                fn.service.key,
                fn.key,
                attempts,
                _short(event),
            )
            return
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "requestContext": {
                "requestId": request_id,
                "functionArn": f"{fn.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": exc.error_type, "errorMessage": str(exc)},
        }
        path = self.dead_letter_dir / f"{target.rsplit(':', 1)[-1]}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, default=json_default) + "\n")
        log.error("%s/%s: event sent to %s after %d attempts (%s)", fn.service.key, fn.key, target, attempts, path)

    def stop(self) -> None:
        """Stop retrying and timers, finish invocations in progress, end every worker."""
        self._stopping.set()
        with self._timer_cond:
            self._timer_cond.notify()
        with self._lock:
            executors, pools = list(self._executors.values()), list(self._pools.values())
        for executor in executors:
            executor.shutdown(wait=True, cancel_futures=True)
        for pool in pools:
            pool.stop()
        self.zygote.stop()


def _short(value: Any, limit: int = 300) -> str:
    """A log-sized rendering of a result."""
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."
