"""API Gateway usage plans, enforced as API Gateway does: per API key (the authorizer's
usageIdentifierKey), a token bucket of the plan's rate and burst, per-method buckets of the plan's
method throttles, and a quota per day. Read from the service's resolved serverless.yml: the
`provider.apiGateway.usagePlan` and `apiKeys` Serverless compiles, and the `resources.extensions`
that give each plan its method throttles (deploy/usage-plans.js writes all three)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imagestore_local.config_loader import ServiceConfig


@dataclass(frozen=True)
class Limits:
    """A throttle: steady rate (requests per second) and burst (the bucket's size)."""

    rate: float
    burst: int


@dataclass
class Plan:
    """One usage plan of an API."""

    name: str
    throttle: Limits | None
    quota: int | None
    quota_period: str  # DAY, WEEK or MONTH
    methods: dict[str, Limits] = field(default_factory=dict)  # "/projects/{projectId}/PUT" -> limits


@dataclass
class _Bucket:
    tokens: float
    updated: float

    def take(self, limits: Limits, now: float) -> bool:
        self.tokens = min(float(limits.burst), self.tokens + (now - self.updated) * limits.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def _limits(raw: Any) -> Limits | None:
    if not isinstance(raw, dict):
        return None
    rate = raw.get("rateLimit", raw.get("RateLimit"))
    burst = raw.get("burstLimit", raw.get("BurstLimit"))
    if rate is None or burst is None:
        return None
    return Limits(rate=float(rate), burst=int(burst))


def plans_of(service: ServiceConfig) -> tuple[dict[str, Plan], dict[str, str]]:
    """(plan name -> plan, API key value -> plan name) of one service, as Serverless compiles them."""
    gateway = service.provider.get("apiGateway") or {}
    raw_plans = gateway.get("usagePlan")
    entries: list[tuple[str, dict[str, Any]]] = []
    if isinstance(raw_plans, list):
        entries = [(str(name), spec or {}) for item in raw_plans for name, spec in dict(item).items()]
    elif isinstance(raw_plans, dict):
        entries = [("default", raw_plans)]
    extensions = (service.config.get("resources") or {}).get("extensions") or {}
    plans: dict[str, Plan] = {}
    for name, spec in entries:
        quota = spec.get("quota") or {}
        plan = Plan(
            name=name,
            throttle=_limits(spec.get("throttle")),
            quota=int(quota["limit"]) if quota.get("limit") is not None else None,
            quota_period=str(quota.get("period") or "DAY").upper(),
        )
        logical_id = "ApiGatewayUsagePlan" + (name[:1].upper() + name[1:] if name != "default" else "")
        for stage in ((extensions.get(logical_id) or {}).get("Properties") or {}).get("ApiStages") or []:
            for method, limits in (stage.get("Throttle") or {}).items():
                parsed = _limits(limits)
                if parsed is not None:
                    plan.methods[str(method)] = parsed
        plans[name] = plan
    keys: dict[str, str] = {}
    for item in gateway.get("apiKeys") or []:
        if isinstance(item, dict) and len(item) == 1 and isinstance(next(iter(item.values())), list):
            ((plan_name, values),) = item.items()
            for key in values:
                value = key.get("value") if isinstance(key, dict) else None
                if value:
                    keys[str(value)] = str(plan_name)
        elif isinstance(item, dict) and item.get("value") and len(plans) == 1:
            keys[str(item["value"])] = next(iter(plans))
    return plans, keys


def _period_start(period: str, now: float) -> str:
    """The quota period a moment falls in (UTC), as a comparable label."""
    moment = datetime.fromtimestamp(now, UTC)
    if period == "MONTH":
        return moment.strftime("%Y-%m")
    if period == "WEEK":
        return moment.strftime("%G-W%V")
    return moment.strftime("%Y-%m-%d")


class UsagePlans:
    """The usage plans of one REST API and the state of their keys' buckets and quotas."""

    def __init__(self, service: ServiceConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.plans, self.keys = plans_of(service)
        self.key_source = str((service.provider.get("apiGateway") or {}).get("apiKeySourceType") or "HEADER")
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._quotas: dict[str, tuple[str, int]] = {}

    def admit(self, key: str | None, method_key: str) -> str | None:
        """None when the request may pass; else the gateway response type API Gateway answers:
        INVALID_API_KEY (no key, or one in no plan), THROTTLED (the method's or the plan's
        throttle), QUOTA_EXCEEDED. `method_key` is "<resource path>/<METHOD>"."""
        plan = self.plans.get(self.keys.get(key or "", ""))
        if plan is None:
            return "INVALID_API_KEY"
        assert key is not None
        now = self._clock()
        with self._lock:
            method_limits = plan.methods.get(method_key)
            if method_limits is not None and not self._bucket(key, method_key, method_limits, now).take(
                method_limits, now
            ):
                return "THROTTLED"
            if plan.throttle is not None and not self._bucket(key, "", plan.throttle, now).take(plan.throttle, now):
                return "THROTTLED"
            if plan.quota is not None:
                period = _period_start(plan.quota_period, time.time())
                start, used = self._quotas.get(key, (period, 0))
                used = used if start == period else 0
                if used >= plan.quota:
                    return "QUOTA_EXCEEDED"
                self._quotas[key] = (period, used + 1)
        return None

    def remaining(self, key: str | None) -> str | None:
        """The `RateLimit` header (IETF httpapi draft) of a request this key's plan counted: what is left of
        the plan's bucket (`rate`: requests, seconds until it is full again) and of its day's quota (`day`:
        requests, seconds until UTC midnight), named as the authorizer's RateLimit-Policy names them
        (imagestore.ratelimit). API Gateway tells no one this; the local gateway, which keeps the buckets,
        does, so that a client's pacing can be tried locally. None for a key in no plan."""
        from imagestore.ratelimit import DAY_POLICY, RATE_POLICY

        plan = self.plans.get(self.keys.get(key or "", ""))
        if plan is None or key is None:
            return None
        now = self._clock()
        items = []
        with self._lock:
            if plan.throttle is not None:
                limits = plan.throttle
                bucket = self._buckets.get((key, ""))
                tokens = (
                    float(limits.burst)
                    if bucket is None
                    else min(float(limits.burst), bucket.tokens + (now - bucket.updated) * limits.rate)
                )
                refill = math.ceil((limits.burst - tokens) / limits.rate) if limits.rate > 0 else 0
                items.append(f'"{RATE_POLICY}";r={math.floor(tokens)};t={refill}')
            if plan.quota is not None and plan.quota_period == "DAY":
                wall = time.time()
                start, used = self._quotas.get(key, (_period_start("DAY", wall), 0))
                used = used if start == _period_start("DAY", wall) else 0
                until_midnight = 86_400 - int(wall) % 86_400
                items.append(f'"{DAY_POLICY}";r={max(0, plan.quota - used)};t={until_midnight}')
        return ", ".join(items) or None

    def _bucket(self, key: str, method_key: str, limits: Limits, now: float) -> _Bucket:
        bucket = self._buckets.get((key, method_key))
        if bucket is None:
            bucket = self._buckets[(key, method_key)] = _Bucket(tokens=float(limits.burst), updated=now)
        return bucket

    def reset(self) -> None:
        """Full buckets and unused quotas for every key."""
        with self._lock:
            self._buckets.clear()
            self._quotas.clear()
