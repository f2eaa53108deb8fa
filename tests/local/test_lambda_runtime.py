"""The local Lambda runtime runs invocations of every function on threads of one process."""

from __future__ import annotations

import contextlib
import io
import sys
import threading
import warnings

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from imagestore_local.lambda_runtime import LambdaRuntime


def test_concurrent_invocations_that_add_and_flush_metrics_do_not_fail() -> None:
    # Given the runtime (it serializes Powertools' process-wide metric set) and six threads of invocations
    LambdaRuntime()
    metrics = Metrics(namespace="imagestore", service="local-test")

    @metrics.log_metrics
    def handler(event: object, context: object) -> None:
        metrics.add_metric(name="Invoked", unit=MetricUnit.Count, value=1)

    errors: list[Exception] = []

    def invoke_many() -> None:
        for _ in range(500):
            try:
                handler({}, None)
            except Exception as exc:  # collected: the assertion names them
                errors.append(exc)

    # When they run with frequent thread switches
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            threads = [threading.Thread(target=invoke_many) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(previous)

    # Then no invocation fails (in Lambda, one invocation at a time uses a process's metric set)
    assert errors == []
