"""Load shapes: a steady ramp, and a sale-day spike whose ramp Lambda can follow.

Lambda scales each function by at most 1,000 execution environments every 10 seconds (100 a second).
A simulated user keeps at most one request in flight, so it needs at most one execution environment;
`concurrency_per_user` (<= 1) says how much of one it really occupies (time in flight over time
between requests), and the busiest function gets at most all of it. The spike therefore adds
users no faster than 100 / concurrency_per_user per second, and a faster ramp asked for is clamped.

The schedules are plain functions of the elapsed time (unit-tested); the Locust shape class that
uses them lives in the locustfile.
"""

from __future__ import annotations

from dataclasses import dataclass

LAMBDA_SCALE_STEP = 1000  # execution environments a function may add ...
LAMBDA_SCALE_PERIOD_S = 10  # ... every this many seconds
LAMBDA_ENVIRONMENTS_PER_SECOND = LAMBDA_SCALE_STEP / LAMBDA_SCALE_PERIOD_S


def lambda_safe_spawn_rate(concurrency_per_user: float) -> float:
    """Users a second that a function's scaling (1,000 environments / 10 s) can absorb."""
    if not 0 < concurrency_per_user <= 1:
        raise ValueError("concurrency per user must be in (0, 1]: a user has at most one request in flight")
    return LAMBDA_ENVIRONMENTS_PER_SECOND / concurrency_per_user


@dataclass(frozen=True)
class Step:
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class SteadyRamp:
    """Ramp linearly to `users` over `ramp_s`, hold for `hold_s`, then stop."""

    users: int
    ramp_s: float
    hold_s: float

    @property
    def duration_s(self) -> float:
        return self.ramp_s + self.hold_s

    def at(self, elapsed: float) -> Step | None:
        if elapsed >= self.duration_s:
            return None
        rate = self.users / self.ramp_s if self.ramp_s > 0 else float(self.users)
        return Step(self.users, max(rate, 1.0))


@dataclass(frozen=True)
class Spike:
    """A quiet baseline, a ramp to `peak_users` in `ramp_s` (no faster than Lambda can scale),
    `hold_s` at the peak, a drop back to the baseline for `cooldown_s`, then stop."""

    peak_users: int
    ramp_s: float
    hold_s: float
    baseline_users: int = 0
    warmup_s: float = 0.0
    cooldown_s: float = 0.0
    concurrency_per_user: float = 1.0

    @property
    def spawn_rate(self) -> float:
        """Users a second on the way up: what the ramp asks for, clamped to Lambda's scaling."""
        wanted = (self.peak_users - self.baseline_users) / self.ramp_s if self.ramp_s > 0 else float("inf")
        return max(1.0, min(wanted, lambda_safe_spawn_rate(self.concurrency_per_user)))

    @property
    def effective_ramp_s(self) -> float:
        return (self.peak_users - self.baseline_users) / self.spawn_rate

    @property
    def duration_s(self) -> float:
        return self.warmup_s + self.effective_ramp_s + self.hold_s + self.cooldown_s

    def at(self, elapsed: float) -> Step | None:
        drop_rate = float(max(1, self.peak_users))  # users leave within about a second
        if elapsed < self.warmup_s:
            return Step(self.baseline_users, max(1.0, float(self.baseline_users)))
        if elapsed < self.warmup_s + self.effective_ramp_s + self.hold_s:
            return Step(self.peak_users, self.spawn_rate)
        if elapsed < self.duration_s:
            return Step(self.baseline_users, drop_rate)
        return None


def fit_to_run_time(shape: SteadyRamp | Spike, run_time_s: float | None) -> SteadyRamp | Spike:
    """Shorten the hold so the whole shape fits in --run-time (the ramp is kept as it is)."""
    if not run_time_s or shape.duration_s <= run_time_s:
        return shape
    if isinstance(shape, SteadyRamp):
        ramp = min(shape.ramp_s, run_time_s)
        return SteadyRamp(shape.users, ramp, max(0.0, run_time_s - ramp))
    fixed = shape.duration_s - shape.hold_s
    return Spike(
        shape.peak_users,
        shape.ramp_s,
        max(0.0, run_time_s - fixed),
        shape.baseline_users,
        shape.warmup_s,
        shape.cooldown_s,
        shape.concurrency_per_user,
    )
