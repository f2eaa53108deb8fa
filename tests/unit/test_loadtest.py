"""The load test's verdict, throttle accounting, shapes and payloads (no network)."""

from __future__ import annotations

import io
from typing import Any

import jwt
import pytest
from PIL import Image

from loadtest import payloads
from loadtest.identity import TokenFile, TokenMinter
from loadtest.shapes import Spike, SteadyRamp, fit_to_run_time, lambda_safe_spawn_rate
from loadtest.verdict import (
    THROTTLED,
    Endpoint,
    ThresholdError,
    Thresholds,
    build_thresholds,
    endpoints_from_stats,
    evaluate,
    mark_throttled,
    parse_p95,
    peak_rate,
)


def endpoint(
    name: str,
    requests: int = 100,
    failures: int = 0,
    p95: float = 100.0,
    method: str = "GET",
    per_second: dict[int, int] | None = None,
) -> Endpoint:
    return Endpoint(method, name, requests, failures, p95, per_second if per_second is not None else {0: requests})


# --- thresholds from the command line ------------------------------------------------------------


def test_p95_takes_a_default_and_per_endpoint_overrides_by_name() -> None:
    default, overrides = parse_p95("default=800; POST /uploads=500;GET /projects/{projectId}=300")
    assert default == 800
    assert overrides == {"POST /uploads": 500, "GET /projects/{projectId}": 300}
    assert parse_p95("1200") == (1200, {})


@pytest.mark.parametrize("spec", ["fast", "POST /uploads=-5", "default=0", "x=nan"])
def test_unreadable_p95_thresholds_are_refused(spec: str) -> None:
    with pytest.raises(ThresholdError):
        parse_p95(spec)


def test_ratios_read_as_fractions_or_percentages() -> None:
    thresholds = build_thresholds(
        max_failure_ratio="1%", p95="900", min_rps=1000, rate_window=10, max_throttle_ratio="0.05"
    )
    assert thresholds.max_failure_ratio == pytest.approx(0.01)
    assert thresholds.max_throttle_ratio == pytest.approx(0.05)
    assert thresholds.p95_limit("anything") == 900
    with pytest.raises(ThresholdError):
        build_thresholds(max_failure_ratio="150%", p95="900", min_rps=1, rate_window=10, max_throttle_ratio=None)


# --- the verdict ---------------------------------------------------------------------------------


def test_a_run_within_every_threshold_passes() -> None:
    rows = [
        endpoint("POST /uploads", 1000, 5, 300, "POST", {s: 100 for s in range(10)}),
        endpoint("GET /projects", 500, 0, 80, "GET", {s: 50 for s in range(10)}),
    ]
    verdict = evaluate(rows, Thresholds(max_failure_ratio=0.01, p95_ms=500, min_rps=140))
    assert verdict.passed, verdict.report()
    assert verdict.figures["apiRatePeak"] == 150
    assert verdict.report().endswith("VERDICT: PASS")


def test_a_slow_endpoint_fails_on_its_own_threshold() -> None:
    rows = [endpoint("POST /uploads", p95=300), endpoint("GET /projects", p95=80)]
    verdict = evaluate(rows, Thresholds(p95_ms=1000, p95_ms_by_endpoint={"POST /uploads": 250}, min_rps=0))
    assert not verdict.passed
    assert any(line.startswith("FAIL p95") and "POST /uploads" in line for line in verdict.lines)


def test_too_many_failures_or_too_low_a_rate_fail() -> None:
    assert not evaluate([endpoint("GET /files", 100, 2)], Thresholds(max_failure_ratio=0.01, min_rps=0)).passed
    assert not evaluate([endpoint("GET /files", 100)], Thresholds(min_rps=1000)).passed
    assert not evaluate([], Thresholds(min_rps=0)).passed  # nothing ran: no pass


def test_a_run_without_requests_fails_saying_why() -> None:
    why = "2 of 2 Locust worker(s) went missing (heartbeats missed: a busy machine)"
    verdict = evaluate([], Thresholds(min_rps=0), why)

    assert not verdict.passed
    assert verdict.lines[0] == f"FAIL no requests were made: {why}"
    assert evaluate([], Thresholds(min_rps=0)).lines[0].startswith("FAIL no requests were made: no user sent one")
    assert not any("no requests" in line for line in evaluate([endpoint("GET /files", 10)], Thresholds()).lines)


def test_make_loadtest_runs_locust_in_one_process_unless_asked() -> None:
    from argparse import Namespace
    from pathlib import Path

    from loadtest.run_local import locust_command

    args = Namespace(users=30, duration=60, processes=1)
    assert "--processes" not in locust_command("http://h", Path("r"), args, [])
    args.processes = 3
    command = locust_command("http://h", Path("r"), args, [])
    assert command[command.index("--processes") + 1] == "3"


def test_throttles_are_reported_apart_and_are_not_failures_or_served_requests() -> None:
    rows = [
        endpoint("POST /uploads", 900, 0, 200, "POST", {0: 900}),
        endpoint("POST /uploads", 100, 0, 20, THROTTLED, {0: 100}),
    ]
    verdict = evaluate(rows, Thresholds(max_failure_ratio=0.0, min_rps=900, rate_window_seconds=1))
    assert verdict.passed, verdict.report()
    assert verdict.figures["throttled"] == 100 and verdict.figures["failures"] == 0
    assert verdict.figures["apiRequests"] == 900
    assert "throttled (429) 100 of 1000 (10.00%)" in verdict.report()
    strict = evaluate(rows, Thresholds(max_failure_ratio=0.0, min_rps=0, max_throttle_ratio=0.05))
    assert not strict.passed


def test_the_rate_counts_api_requests_not_presigned_s3_traffic() -> None:
    rows = [
        endpoint("POST /uploads", 100, per_second={0: 100}),
        endpoint("S3 POST presigned upload", 5000, per_second={0: 5000}),
    ]
    verdict = evaluate(rows, Thresholds(min_rps=0, rate_window_seconds=1))
    assert verdict.figures["apiRatePeak"] == 100


def test_the_peak_rate_is_the_best_window_so_a_spikes_ramp_does_not_dilute_it() -> None:
    per_second = {0: 10, 1: 10, 2: 1000, 3: 1000, 4: 1000, 5: 10}
    assert peak_rate(per_second, 3) == 1000
    assert peak_rate(per_second, 100) == pytest.approx(3030 / 6)
    assert peak_rate({}, 10) == 0


class FakeResponse:
    def __init__(self, status: int, content: bytes = b"") -> None:
        self.status_code, self.content = status, content
        self.request_meta: dict[str, Any] = {"request_type": "POST", "name": "POST /uploads"}
        self.succeeded = False

    def success(self) -> None:
        self.succeeded = True


def test_a_429_or_s3_slowdown_is_moved_to_the_throttled_line_as_handled() -> None:
    throttled, slowdown, ok, error = (
        FakeResponse(429),
        FakeResponse(503, b"<Code>SlowDown</Code>"),
        FakeResponse(201),
        FakeResponse(503, b"oops"),
    )
    assert mark_throttled(throttled) and mark_throttled(slowdown)
    assert throttled.request_meta["request_type"] == THROTTLED and throttled.succeeded
    assert not mark_throttled(ok) and not mark_throttled(error)
    assert error.request_meta["request_type"] == "POST"


class FakeEntry:
    """The attributes of locust.stats.StatsEntry that the verdict reads (importing locust here would
    monkey-patch the whole test process with gevent)."""

    def __init__(self, method: str, name: str, times: list[int], failures: int = 0) -> None:
        self.method, self.name, self.num_requests, self.num_failures = method, name, len(times), failures
        self.times = sorted(times)
        self.num_reqs_per_sec = {100: len(times)}

    def get_response_time_percentile(self, percent: float) -> int:
        return self.times[min(len(self.times) - 1, int(percent * len(self.times)))]


class FakeStats:
    def __init__(self, *entries: FakeEntry) -> None:
        self.entries = {(e.name, e.method): e for e in entries}


def test_locust_stats_become_endpoints_with_the_throttled_line_apart() -> None:
    stats = FakeStats(
        FakeEntry("POST", "POST /uploads", [10, 20, 30, 400], failures=1),
        FakeEntry(THROTTLED, "POST /uploads", [5]),
        FakeEntry("GET", "GET /files", []),
    )
    rows = {(e.method, e.name): e for e in endpoints_from_stats(stats)}
    assert set(rows) == {("POST", "POST /uploads"), (THROTTLED, "POST /uploads")}  # unused lines dropped
    assert rows[("POST", "POST /uploads")].requests == 4 and rows[("POST", "POST /uploads")].failures == 1
    assert rows[("POST", "POST /uploads")].p95_ms == 400
    assert rows[(THROTTLED, "POST /uploads")].throttled


# --- shapes --------------------------------------------------------------------------------------


def test_the_spike_ramp_never_outruns_lambdas_scaling() -> None:
    assert lambda_safe_spawn_rate(1.0) == 100  # 1,000 environments per 10 s per function
    assert lambda_safe_spawn_rate(0.25) == 400
    spike = Spike(peak_users=5000, ramp_s=5, hold_s=60, concurrency_per_user=1.0)
    assert spike.spawn_rate == 100  # 1,000 users/s asked for, 100/s allowed
    assert spike.effective_ramp_s == 50
    gentle = Spike(peak_users=300, ramp_s=10, hold_s=60)
    assert gentle.spawn_rate == 30
    with pytest.raises(ValueError):
        lambda_safe_spawn_rate(1.5)


def test_the_spike_holds_then_drops_to_its_baseline_then_ends() -> None:
    spike = Spike(peak_users=200, ramp_s=10, hold_s=30, baseline_users=10, warmup_s=5, cooldown_s=5)
    assert spike.at(1).users == 10
    assert spike.at(6).users == 200 and spike.at(30).users == 200
    assert spike.at(spike.duration_s - 1).users == 10
    assert spike.at(spike.duration_s) is None


def test_the_steady_ramp_and_fitting_into_the_run_time() -> None:
    ramp = SteadyRamp(users=50, ramp_s=10, hold_s=600)
    assert ramp.at(0).spawn_rate == 5 and ramp.at(0).users == 50
    fitted = fit_to_run_time(ramp, 60)
    assert fitted.duration_s == 60 and fitted.at(60) is None
    spike = fit_to_run_time(Spike(100, 10, 600, warmup_s=5, cooldown_s=5), 120)
    assert spike.duration_s == 120


# --- what the users send -------------------------------------------------------------------------


def test_generated_photos_are_real_jpegs_of_the_asked_sizes() -> None:
    sizes = payloads.parse_sizes("320x240, 64x48")
    photos = payloads.photo_set(sizes)
    for data, size in zip(photos, sizes, strict=True):
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.size == size
    with pytest.raises(ValueError):
        payloads.parse_sizes("big")


def test_the_multipart_body_carries_the_fields_then_the_file() -> None:
    body, content_type = payloads.multipart_form(
        {"key": "t/u/f", "policy": "abc"}, b"\xff\xd8JPEG", "a.jpg", "image/jpeg"
    )
    boundary = content_type.split("boundary=")[1]
    assert body.index(b'name="key"') < body.index(b'name="policy"') < body.index(b'name="file"')
    assert b"\xff\xd8JPEG\r\n--" + boundary.encode() + b"--\r\n" in body


def test_minted_tokens_verify_for_the_targets_issuer_and_audience(tmp_path: Any) -> None:
    minter = TokenMinter("s" * 32, "imagestore-prod", "imagestore", tenants=2)
    first, second, third = minter.next(), minter.next(), minter.next()
    claims = jwt.decode(first.token, "s" * 32, algorithms=["HS256"], audience="imagestore", issuer="imagestore-prod")
    assert claims["sub"] == first.user_id and claims["tid"] == first.tenant_id
    assert len({first.user_id, second.user_id, third.user_id}) == 3
    assert first.tenant_id == third.tenant_id != second.tenant_id
    path = tmp_path / "tokens.txt"
    path.write_text(f"# stage users\n{first.token}\n{second.token}\n")
    tokens = TokenFile(path)
    assert [tokens.next().user_id for _ in range(3)] == [first.user_id, second.user_id, first.user_id]
