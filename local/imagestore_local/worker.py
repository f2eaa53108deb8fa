"""One Lambda execution environment: `python -m imagestore_local.worker <fd> <service dir> <handler>`.

Run by lambda_runtime.py as a process of its own for one function. It imports the handler once (its
init; a failure is reported and the process exits), then runs one invocation at a time: a JSON line
{"event", "requestId", "deadlineMs", "env"} on the socket <fd> -> a JSON line {"result"} or {"error"}.
The handler's own output (Powertools' JSON logs, tracebacks) goes to the inherited stdout/stderr: the
stack's log. Kept free of the rest of imagestore_local, so that a cold start imports only the handler.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import socket
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Any


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


def split_handler(handler: str) -> tuple[str, str]:
    """'file_service/handlers/uploads.handler' -> ('file_service.handlers.uploads', 'handler')."""
    module_path, _, attribute = handler.rpartition(".")
    if not module_path or not attribute:
        raise ValueError(f"handler {handler!r} is not <module path>.<function>")
    return module_path.replace("/", ".").replace("\\", ".").removesuffix(".py"), attribute


def json_default(value: Any) -> Any:
    """What Lambda's JSON marshalling makes of bytes (base64) and of anything else (its text)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return str(value)


def error_of(exc: BaseException) -> dict[str, Any]:
    """An exception as Lambda reports a function error."""
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def serve(channel: socket.socket, directory: str, handler_name: str) -> int:
    """Import the handler (the init), then answer invocations on channel until it closes."""
    reader, writer = channel.makefile("rb"), channel.makefile("wb")

    lock = threading.Lock()

    def send(message: dict[str, Any]) -> None:
        with lock:
            writer.write(json.dumps(message, default=json_default).encode() + b"\n")
            writer.flush()

    from imagestore_local.faults import CallFaults

    faults = CallFaults(lambda kind: send({"fault": kind}))
    faults.install()

    started = time.perf_counter()
    try:
        sys.path.insert(0, directory)
        module_name, attribute = split_handler(handler_name)
        handler = getattr(importlib.import_module(module_name), attribute, None)
        if not callable(handler):
            raise AttributeError(f"{module_name} has no callable {attribute!r}")
    except Exception as exc:  # Lambda's Runtime.ImportModuleError: reported, and the environment is discarded
        traceback.print_exc()
        send(
            {
                "initError": {
                    "errorType": "Runtime.ImportModuleError",
                    "errorMessage": f"cannot import {handler_name}: {type(exc).__name__}: {exc}",
                }
            }
        )
        return 1
    send({"ready": True, "initMs": round((time.perf_counter() - started) * 1000, 1)})
    name, arn, memory = (
        os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        os.environ["IMAGESTORE_LOCAL_FUNCTION_ARN"],
        int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")),
    )
    stream = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
    for line in reader:
        request = json.loads(line)
        os.environ.update(request.get("env") or {})
        faults.start_invocation()
        context = LambdaContext(
            function_name=name,
            function_version="$LATEST",
            invoked_function_arn=arn,
            memory_limit_in_mb=memory,
            aws_request_id=request["requestId"],
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=stream,
            deadline_epoch_ms=request["deadlineMs"],
        )
        try:
            result = handler(request["event"], context)
            payload = json.dumps({"result": result}, default=json_default).encode()
        except Exception as exc:  # a function error: printed as Lambda logs it, and reported to the caller
            traceback.print_exc()
            payload = json.dumps({"error": error_of(exc)}, default=json_default).encode()
        sys.stdout.flush()
        sys.stderr.flush()
        with lock:
            writer.write(payload + b"\n")
            writer.flush()
    return 0


# Imported once by the zygote, before it forks a worker: what every handler imports, so that a cold start imports
# only the function's own modules (its init), as a Lambda environment's runtime and layer are already there.
PRELOAD = (
    "boto3",
    "botocore.client",
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.parser",
    "pydantic",
    "imagestore_local.faults",
)


def zygote(control: socket.socket) -> int:
    """Fork a worker for each request on control: a JSON message {"directory", "handler", "env"} with two file
    descriptors (the worker's channel, the write end of its output pipe); answers {"pid"}. Single-threaded, so
    forking is safe; children are reaped by the kernel (SIGCHLD ignored)."""
    import contextlib
    import signal

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:  # control is a SOCK_SEQPACKET socket: one request a message
        data, fds, _flags, _address = socket.recv_fds(control, 1 << 20, 2)
        if not data:
            return 0
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:  # the worker
            try:
                control.close()
                os.dup2(fds[1], 1)
                os.dup2(fds[1], 2)
                os.close(fds[1])
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.environ.clear()
                os.environ.update(request["env"])
                code = serve(socket.socket(fileno=fds[0]), request["directory"], request["handler"])
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"pid": pid}).encode())


def main(argv: list[str]) -> int:
    if argv[0] == "--zygote":
        return zygote(socket.socket(fileno=int(argv[1])))
    return serve(socket.socket(fileno=int(argv[0])), argv[1], argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
