"""One tenant over its usage plan is throttled while another keeps its rate (issue 19).

Two groups of users call GET /files at the same target rate: tenant `throttled-shop` (on the usage plan
`throttled` in the tenant registry, which deploy/usage-plans.yml holds to 20 requests a second on the
local stage; registered by this file's test_start on a local stack) and another tenant on the shared
plan. At the end it prints, per tenant, the answered rate (2xx), the throttled rate (429, each with
Retry-After and the API's error body) and other failures, and exits non-zero when the throttled tenant
got more than its plan allows or the other tenant was throttled or fell short of its target.

    .venv/bin/locust -f loadtest/tenant_isolation.py --headless --host http://127.0.0.1:3000 \
        -u 24 -r 24 -t 30s --only-summary        # 12 users a tenant, 30 requests a second each

On a deployed stage, deploy a plan with the limit to check (deploy/usage-plans.yml, --throttled-rate), put
the throttled tenant on it (`imagestore-admin tenants put`) and mint tokens with that stage's secret
(--jwt-secret, --jwt-issuer).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

from locust import FastHttpUser, constant_throughput, events, task

from loadtest import identity

THROTTLED_TENANT = "throttled-shop"
OTHER_TENANT = "steady-shop"
PER_USER_RATE = 2.5  # requests a second each user aims at

_counts: Counter[tuple[str, str]] = Counter()
_lock = threading.Lock()
_window: dict[str, float] = {}


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--jwt-secret", default=identity.LOCAL_SECRET, env_var="IMAGESTORE_JWT_SECRET", is_secret=True)
    parser.add_argument("--jwt-issuer", default=identity.LOCAL_ISSUER, env_var="IMAGESTORE_JWT_ISSUER")
    parser.add_argument("--jwt-audience", default=identity.LOCAL_AUDIENCE, env_var="IMAGESTORE_JWT_AUDIENCE")
    parser.add_argument(
        "--throttled-rate",
        type=float,
        default=20.0,
        env_var="LOADTEST_THROTTLED_RATE",
        help="the throttled tenant's plan: rate limit (requests a second)",
    )


def _token(environment: Any, tenant: str) -> str:
    options = environment.parsed_options
    minter = identity.TokenMinter(
        options.jwt_secret, options.jwt_issuer, options.jwt_audience, tenants=1, tenant_prefix="unused"
    )
    return identity.mint_for(minter, tenant)


@events.test_start.add_listener
def _register_throttled_tenant(environment: Any, **_: Any) -> None:
    """On a local stack, put the throttled tenant on its plan in the tenant registry."""
    host = environment.host or ""
    if host.startswith(("http://127.0.0.1", "http://localhost")):
        from imagestore.models.tenants import TenantRecord
        from imagestore_admin.cli import local_registry

        record = TenantRecord(tenant_id=THROTTLED_TENANT, display_name="Throttled shop", usage_plan="throttled")
        local_registry(host).put(record, int(time.time()))


class _TenantUser(FastHttpUser):
    abstract = True
    tenant = ""
    wait_time = constant_throughput(PER_USER_RATE)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {_token(self.environment, self.tenant)}"}

    @task
    def list_files(self) -> None:
        with self.client.get(
            "/files?limit=1", headers=self.headers, name=f"{self.tenant} GET /files", catch_response=True
        ) as response:
            outcome = "ok" if 200 <= response.status_code < 300 else "other"
            if response.status_code == 429:
                body = json.loads(response.text or "{}")
                outcome = "throttled" if response.headers.get("Retry-After") and "error" in body else "other"
            if outcome == "other":
                response.failure(f"{response.status_code}: {response.text[:200]}")
            else:
                response.success()  # a 429 is the gateway doing its job, counted apart
        with _lock:
            _window.setdefault("start", time.monotonic())
            _window["end"] = time.monotonic()
            _counts[(self.tenant, outcome)] += 1


class ThrottledShop(_TenantUser):
    tenant = THROTTLED_TENANT


class SteadyShop(_TenantUser):
    tenant = OTHER_TENANT


def figures() -> dict[str, dict[str, float]]:
    """Per tenant: requests answered, throttled and failed, a second, over the run."""
    seconds = max(1e-9, _window.get("end", 0.0) - _window.get("start", 0.0))
    return {
        tenant: {
            outcome + "PerSecond": round(_counts[(tenant, outcome)] / seconds, 1)
            for outcome in ("ok", "throttled", "other")
        }
        | {"seconds": round(seconds, 1)}
        for tenant in (THROTTLED_TENANT, OTHER_TENANT)
    }


@events.quitting.add_listener
def _verdict(environment: Any, **_: Any) -> None:
    result = figures()
    throttled, steady = result[THROTTLED_TENANT], result[OTHER_TENANT]
    target = PER_USER_RATE * max(1, int(environment.parsed_options.num_users or 2) // 2)
    limit = environment.parsed_options.throttled_rate
    problems = []
    if throttled["throttledPerSecond"] == 0:
        problems.append(f"{THROTTLED_TENANT} was never throttled (its target {target}/s, its plan {limit}/s)")
    # The burst lets a little more through at the start: 25% headroom over the run.
    if throttled["okPerSecond"] > limit * 1.25:
        problems.append(f"{THROTTLED_TENANT} got {throttled['okPerSecond']}/s through, its plan is {limit}/s")
    if steady["throttledPerSecond"] > 0 or steady["otherPerSecond"] > 0:
        problems.append(f"{OTHER_TENANT} was throttled or failed: {steady}")
    if steady["okPerSecond"] < 0.8 * target:
        problems.append(f"{OTHER_TENANT} kept {steady['okPerSecond']}/s of its {target}/s")
    print(
        json.dumps(
            {"targetPerTenantPerSecond": target, "throttledPlanPerSecond": limit, **result, "problems": problems},
            indent=2,
        )
    )
    if problems:
        environment.process_exit_code = 1
