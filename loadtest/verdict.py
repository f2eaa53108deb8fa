"""Pass/fail of a load test run from the thresholds given on the command line.

Pure logic over figures taken from Locust's stats (no Locust import here), so it is unit-tested.
Rules:
- Requests answered 429 are recorded under the method THROTTLED (see `mark_throttled`): they are
  neither failures nor served requests; they are counted and reported on their own line.
- Requests whose name starts with "S3 " go to the bucket through presigned URLs, not to the APIs:
  they count for failures and latency, but the achieved rate is the rate of API requests.
- The achieved rate is the best mean over a sliding window (default 10 s) of API requests served
  per second, so the ramp and the drop of a spike do not dilute the peak.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

THROTTLED = "THROTTLED"
S3_PREFIX = "S3 "


class ThresholdError(ValueError):
    """A threshold given on the command line cannot be read."""


@dataclass(frozen=True)
class Thresholds:
    """What a run must achieve to pass."""

    max_failure_ratio: float = 0.01
    p95_ms: float = 1000.0
    p95_ms_by_endpoint: Mapping[str, float] = field(default_factory=dict)
    min_rps: float = 1000.0
    rate_window_seconds: int = 10
    max_throttle_ratio: float | None = None

    def p95_limit(self, endpoint: str) -> float:
        return self.p95_ms_by_endpoint.get(endpoint, self.p95_ms)


def parse_p95(spec: str) -> tuple[float | None, dict[str, float]]:
    """`"800"` or `"default=800;POST /uploads=500;GET /projects/{projectId}=300"` -> (default, overrides).

    Entries are separated by ';' (endpoint names contain commas and spaces, never ';').
    """
    default: float | None = None
    overrides: dict[str, float] = {}
    for raw in spec.split(";"):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, value = entry.rpartition("=")
        name = name.strip()
        try:
            limit = float(value)
        except ValueError as exc:
            raise ThresholdError(f"p95 threshold {entry!r}: {value.strip()!r} is not a number of ms") from exc
        if not math.isfinite(limit) or limit <= 0:
            raise ThresholdError(f"p95 threshold {entry!r} must be a positive number of ms")
        if not sep or name.lower() in ("default", "*"):
            default = limit
        else:
            overrides[name] = limit
    return default, overrides


def parse_ratio(text: str, what: str) -> float:
    """A ratio given as 0.01 or 1%."""
    value = text.strip()
    try:
        ratio = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError as exc:
        raise ThresholdError(f"{what} {text!r} is not a ratio (0.01 or 1%)") from exc
    if not 0 <= ratio <= 1:
        raise ThresholdError(f"{what} {text!r} must be between 0 and 1 (or 0% and 100%)")
    return ratio


def build_thresholds(
    *, max_failure_ratio: str, p95: str, min_rps: float, rate_window: int, max_throttle_ratio: str | None
) -> Thresholds:
    """Thresholds from the command line's strings."""
    default_p95, overrides = parse_p95(p95)
    if min_rps < 0:
        raise ThresholdError("the minimum request rate cannot be negative")
    if rate_window < 1:
        raise ThresholdError("the rate window must be at least 1 second")
    return Thresholds(
        max_failure_ratio=parse_ratio(max_failure_ratio, "max failure ratio"),
        p95_ms=default_p95 if default_p95 is not None else Thresholds.p95_ms,
        p95_ms_by_endpoint=overrides,
        min_rps=min_rps,
        rate_window_seconds=rate_window,
        max_throttle_ratio=parse_ratio(max_throttle_ratio, "max throttle ratio") if max_throttle_ratio else None,
    )


@dataclass(frozen=True)
class Endpoint:
    """One line of Locust's stats: method and name as reported, counts, p95 and requests per second."""

    method: str
    name: str
    requests: int
    failures: int
    p95_ms: float
    per_second: Mapping[int, int] = field(default_factory=dict)

    @property
    def throttled(self) -> bool:
        return self.method == THROTTLED

    @property
    def is_api(self) -> bool:
        return not self.name.startswith(S3_PREFIX)

    @property
    def label(self) -> str:
        return self.name


@dataclass
class Verdict:
    passed: bool
    lines: list[str]
    figures: dict[str, Any]

    def report(self) -> str:
        return "\n".join([*self.lines, f"VERDICT: {'PASS' if self.passed else 'FAIL'}"])


def peak_rate(per_second: Mapping[int, int], window: int) -> float:
    """The best mean rate over `window` consecutive seconds (fewer if the run was shorter)."""
    if not per_second:
        return 0.0
    first, last = min(per_second), max(per_second)
    span = last - first + 1
    window = min(window, span)
    counts = [per_second.get(second, 0) for second in range(first, last + 1)]
    best = running = sum(counts[:window])
    for i in range(window, span):
        running += counts[i] - counts[i - window]
        best = max(best, running)
    return best / window


def evaluate(endpoints: Iterable[Endpoint], thresholds: Thresholds, why_none: str = "") -> Verdict:
    """Check failure ratio, per-endpoint p95, achieved API rate and (optionally) the throttle ratio. A run without
    a single request fails saying why (`why_none`: what the runner knows, e.g. its workers went missing)."""
    rows = list(endpoints)
    served = [e for e in rows if not e.throttled]
    throttled = [e for e in rows if e.throttled]
    lines: list[str] = []
    passed = True

    total = sum(e.requests for e in served)
    failures = sum(e.failures for e in served)
    throttle_count = sum(e.requests for e in throttled)
    failure_ratio = failures / total if total else 1.0
    ok = total > 0 and failure_ratio <= thresholds.max_failure_ratio
    passed &= ok
    if total == 0 and not throttled:
        lines.append(f"FAIL no requests were made: {why_none or 'no user sent one before the run ended'}")
    lines.append(
        f"{'ok  ' if ok else 'FAIL'} failure ratio {failure_ratio:.2%} ({failures} of {total}) "
        f"<= {thresholds.max_failure_ratio:.2%}"
    )

    attempts = total + throttle_count
    throttle_ratio = throttle_count / attempts if attempts else 0.0
    if thresholds.max_throttle_ratio is None:
        lines.append(f"info throttled (429) {throttle_count} of {attempts} ({throttle_ratio:.2%}), not errors")
    else:
        ok = throttle_ratio <= thresholds.max_throttle_ratio
        passed &= ok
        lines.append(
            f"{'ok  ' if ok else 'FAIL'} throttled (429) {throttle_count} ({throttle_ratio:.2%}) "
            f"<= {thresholds.max_throttle_ratio:.2%}"
        )
    for entry in sorted(throttled, key=lambda e: e.name):
        lines.append(f"       429 x{entry.requests} {entry.name}")

    p95s: dict[str, float] = {}
    for entry in sorted(served, key=lambda e: e.name):
        limit = thresholds.p95_limit(entry.label)
        ok = entry.p95_ms <= limit
        passed &= ok
        p95s[entry.label] = entry.p95_ms
        lines.append(
            f"{'ok  ' if ok else 'FAIL'} p95 {entry.p95_ms:7.0f} ms <= {limit:.0f} ms  {entry.label} "
            f"({entry.requests} requests, {entry.failures} failed)"
        )

    per_second: dict[int, int] = {}
    for entry in served:
        if entry.is_api:
            for second, count in entry.per_second.items():
                per_second[second] = per_second.get(second, 0) + count
    api_requests = sum(per_second.values())
    rate = peak_rate(per_second, thresholds.rate_window_seconds)
    mean = api_requests / (max(per_second) - min(per_second) + 1) if per_second else 0.0
    ok = rate >= thresholds.min_rps
    passed &= ok
    lines.append(
        f"{'ok  ' if ok else 'FAIL'} API rate {rate:.1f} req/s (best {thresholds.rate_window_seconds} s "
        f"window; mean {mean:.1f}) >= {thresholds.min_rps:g} req/s"
    )
    figures = {
        "requests": total,
        "failures": failures,
        "failureRatio": failure_ratio,
        "throttled": throttle_count,
        "throttleRatio": throttle_ratio,
        "apiRequests": api_requests,
        "apiRatePeak": rate,
        "apiRateMean": mean,
        "p95Ms": p95s,
        "passed": passed,
    }
    return Verdict(passed=passed, lines=lines, figures=figures)


def endpoints_from_stats(stats: Any) -> list[Endpoint]:
    """Endpoints from a Locust RequestStats (its `entries`, keyed by (name, method))."""
    return [
        Endpoint(
            method=entry.method or "",
            name=entry.name,
            requests=entry.num_requests,
            failures=entry.num_failures,
            p95_ms=float(entry.get_response_time_percentile(0.95) or 0),
            per_second=dict(entry.num_reqs_per_sec),
        )
        for entry in stats.entries.values()
        if entry.num_requests
    ]


def is_throttle(status_code: int | None, body: bytes | None = b"") -> bool:
    """API Gateway and Lambda throttle with 429; S3 with 503 SlowDown."""
    return status_code == 429 or (status_code == 503 and b"SlowDown" in (body or b""))


def mark_throttled(response: Any) -> bool:
    """Inside `with client.request(..., catch_response=True) as response`: a throttle is moved to the
    THROTTLED line of the stats and counted as handled, not as a failure. Returns whether it was one."""
    if not is_throttle(getattr(response, "status_code", None), getattr(response, "content", b"")):
        return False
    response.request_meta["request_type"] = THROTTLED
    response.success()
    return True
