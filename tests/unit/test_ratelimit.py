"""The RateLimit-Policy a usage plan's limits give (IETF httpapi draft syntax: a list of quota policies
with q and w), as the authorizer states them."""

from __future__ import annotations

import pytest

from imagestore import ratelimit
from imagestore.config import Settings


@pytest.mark.parametrize(
    ("rate", "burst", "quota", "header"),
    [
        (20, 20, 1_000_000_000, '"rate";q=20;w=1, "day";q=1000000000;w=86400'),
        # A bucket of 2,500 that refills at 5,000/s: 2,500 within any second is never throttled.
        (5000, 2500, 200_000_000, '"rate";q=2500;w=1, "day";q=200000000;w=86400'),
        # A bucket of 100 that refills at 10/s: 100 within 10 s.
        (10, 100, None, '"rate";q=100;w=10'),
        (0.5, 3, 50, '"rate";q=3;w=6, "day";q=50;w=86400'),
    ],
)
def test_a_plans_policy(rate: float, burst: int, quota: int | None, header: str) -> None:
    assert ratelimit.policy(rate, burst, quota) == header


def test_the_limits_deploy_usage_plans_js_writes_become_the_policy() -> None:
    settings = Settings.model_validate(
        {
            "usage_plan_limits": '{"": {"rateLimit": 5000, "burstLimit": 2500, "quotaPerDay": 200000000}, '
            '"gold": {"rateLimit": 20, "burstLimit": 40, "quotaPerDay": 1000}}'
        }
    )
    assert ratelimit.plan_policy(settings.usage_plan_limits["gold"]) == '"rate";q=40;w=2, "day";q=1000;w=86400'
    assert ratelimit.plan_policy(settings.usage_plan_limits[""]).startswith('"rate";q=2500;w=1')
    assert ratelimit.plan_policy(settings.usage_plan_limits.get("silver")) is None
    assert ratelimit.plan_policy({"quotaPerDay": 5}) is None
