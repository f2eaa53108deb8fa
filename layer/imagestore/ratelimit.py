"""The `RateLimit-Policy` header (IETF httpapi draft "RateLimit header fields for HTTP") of an answer
whose request a usage plan counted. docs/rate-limits.md says what each policy means.

API Gateway enforces the plans (deploy/usage-plans.yml) before the function runs and tells it nothing of
what is left, so a function states only the policy: the authorizer, which picks the caller's plan, puts
that plan's policy in the authorizer context (POLICY_CONTEXT_KEY) and imagestore.api copies it onto the
answer. What is left (`RateLimit`) only the gateway knows: the local gateway, which enforces the plans
itself, answers it (imagestore_local.throttling)."""

from __future__ import annotations

import math

POLICY_CONTEXT_KEY = "rateLimitPolicy"
# The policies' names, as `RateLimit` names them too.
RATE_POLICY = "rate"
DAY_POLICY = "day"
DAY_SECONDS = 86_400


def rate_window(rate: float, burst: int) -> int:
    """The window (whole seconds, at least 1) in which a full bucket of `burst` requests refills at `rate`
    a second: a client that sends at most `burst` requests per window is never throttled."""
    return max(1, math.ceil(burst / rate)) if rate > 0 else DAY_SECONDS


def policy(rate: float, burst: int, quota_per_day: int | None) -> str:
    """`"rate";q=<burst>;w=<window>, "day";q=<quota>;w=86400` (the day's only with a quota)."""
    items = [f'"{RATE_POLICY}";q={burst};w={rate_window(rate, burst)}']
    if quota_per_day is not None:
        items.append(f'"{DAY_POLICY}";q={quota_per_day};w={DAY_SECONDS}')
    return ", ".join(items)


def plan_policy(limits: dict[str, float] | None) -> str | None:
    """The policy of a plan's limits as deploy/usage-plans.js writes them (rateLimit, burstLimit,
    quotaPerDay); None without a throttle."""
    if not limits or limits.get("rateLimit") is None or limits.get("burstLimit") is None:
        return None
    quota = limits.get("quotaPerDay")
    return policy(float(limits["rateLimit"]), int(limits["burstLimit"]), int(quota) if quota is not None else None)
