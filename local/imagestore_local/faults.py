"""IMAGESTORE_FAULTS: the failures AWS has, injected at given rates (docs: local/README.md, "Fault mode").

`IMAGESTORE_FAULTS="dynamodb_throttle=0.05,dynamodb_error=0.02,s3_slowdown=0.05,kill=0.01,event_duplicate=0.1,
event_late=0.1,event_reorder=0.1[,late_seconds=3][,seed=1]"`; every rate is a probability per AWS call (the first
four, in the function's worker: the error the SDK raises once its own retries gave up) or per asynchronous event
(the last three, in lambda_runtime.LambdaRuntime.invoke_async). `kill` ends the worker process (os._exit) before an
AWS call that follows another of the same invocation: the function dies between two AWS calls.

Two deterministic kinds name what to kill instead of a rate: `kill_after=<Operation>` ends the worker right after
every call of that operation returned (e.g. TransactWriteItems: the change is committed, nothing after it runs),
and `kill_in=<function>` limits `kill` and `kill_after` to the functions whose name ends with it.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ENV = "IMAGESTORE_FAULTS"
CALL_FAULTS = ("dynamodb_throttle", "dynamodb_error", "s3_slowdown", "kill")
EVENT_FAULTS = ("event_duplicate", "event_late", "event_reorder")
# What each call fault raises: (service, error code, message, HTTP status).
ERRORS = {
    "dynamodb_throttle": (
        "dynamodb",
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
        400,
    ),
    "dynamodb_error": ("dynamodb", "InternalServerError", "Internal server error", 500),
    "s3_slowdown": ("s3", "SlowDown", "Please reduce your request rate.", 503),
}


@dataclass
class Faults:
    """Parsed rates; roll(kind) says whether to inject one now."""

    rates: dict[str, float]
    late_seconds: float = 3.0
    rng: random.Random = field(default_factory=random.Random)
    kill_after: str | None = None  # an operation name: the worker ends right after each such call
    kill_in: str | None = None  # a function name suffix: kill and kill_after apply only there

    def kills_here(self) -> bool:
        return self.kill_in is None or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "").endswith(self.kill_in)

    @classmethod
    def parse(cls, spec: str | None) -> Faults | None:
        """None for an empty spec; ValueError for an unknown kind or a rate outside [0, 1]."""
        rates: dict[str, float] = {}
        late, seed = 3.0, None
        named: dict[str, str] = {}
        for part in (p.strip() for p in (spec or "").split(",") if p.strip()):
            name, _, value = part.partition("=")
            if name in ("kill_after", "kill_in") and value:
                named[name] = value
            elif name == "late_seconds":
                late = float(value)
            elif name == "seed":
                seed = int(value)
            elif name in CALL_FAULTS + EVENT_FAULTS and 0 <= float(value) <= 1:
                rates[name] = float(value)
            else:
                raise ValueError(
                    f"{ENV}: {part!r} is not kind=rate (kinds: {', '.join(CALL_FAULTS + EVENT_FAULTS)})"
                    " nor kill_after=<Operation> / kill_in=<function>"
                )
        if not rates and "kill_after" not in named:
            return None
        return cls(
            rates,
            late,
            random.Random(seed) if seed is not None else random.Random(),
            kill_after=named.get("kill_after"),
            kill_in=named.get("kill_in"),
        )

    def roll(self, kind: str) -> bool:
        rate = self.rates.get(kind, 0.0)
        return rate > 0 and self.rng.random() < rate


class CallFaults:
    """In a worker: botocore's _make_api_call patched to fail as AWS does (reported through `report`)."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.faults: Faults | None = None
        self.spec: str | None = None
        self.calls = 0  # AWS calls of the current invocation
        self.lock = threading.Lock()

    def start_invocation(self) -> None:
        """Before each invocation: the spec in effect now (the stack can change it), no calls yet."""
        spec = os.environ.get(ENV) or None
        if spec != self.spec:
            self.spec, self.faults = spec, Faults.parse(spec)
        self.calls = 0

    def install(self) -> None:
        from botocore.client import BaseClient
        from botocore.exceptions import ClientError

        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        owner = self

        def make_api_call(client: Any, operation: str, params: Any) -> Any:
            faults = owner.faults
            if faults is not None:
                service = client.meta.service_model.service_name
                with owner.lock:
                    owner.calls += 1
                    kill = owner.calls > 1 and faults.kills_here() and faults.roll("kill")
                    failure = next(
                        (kind for kind, (name, *_rest) in ERRORS.items() if name == service and faults.roll(kind)), None
                    )
                if kill:
                    owner.report("kill")
                    os._exit(137)
                if failure is not None:
                    owner.report(failure)
                    _, code, message, status = ERRORS[failure]
                    metadata: Any = {"HTTPStatusCode": status}
                    raise ClientError(
                        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}, operation
                    )
            result = original(client, operation, params)
            if faults is not None and faults.kill_after == operation and faults.kills_here():
                owner.report("kill_after")
                os._exit(137)
            return result

        BaseClient._make_api_call = make_api_call  # type: ignore[attr-defined]
