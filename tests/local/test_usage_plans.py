"""The usage plans the local gateway enforces are the ones the templates deploy: read from the
services' resolved serverless.yml (deploy/usage-plans.js over deploy/usage-plans.yml), with the keys
the authorizer names."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagestore.auth import usage_identifier_key
from imagestore_local.config_loader import Project
from imagestore_local.throttling import Limits, UsagePlans

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plans() -> dict[str, dict[str, UsagePlans]]:
    out: dict[str, dict[str, UsagePlans]] = {}
    for stage in ("local", "dev"):
        project = Project(ROOT, stage=stage)
        out[stage] = {key: UsagePlans(project.service(key)) for key in ("file", "project")}
    return out


@pytest.mark.parametrize("api", ["file", "project"])
def test_a_named_plan_has_its_own_key_and_the_others_share_one(
    plans: dict[str, dict[str, UsagePlans]], api: str
) -> None:
    usage = plans["local"][api]
    assert usage.key_source == "AUTHORIZER"
    own = usage_identifier_key("local", f"/{'files' if api == 'file' else 'projects'}", "throttled")
    shared = usage_identifier_key("local", f"/{'files' if api == 'file' else 'projects'}", None)
    assert own != shared and own.isalnum() and shared.isalnum()
    assert usage.plans[usage.keys[own]].throttle == Limits(rate=20, burst=20)
    assert usage.plans[usage.keys[shared]].throttle == Limits(rate=100000, burst=100000)
    for _ in range(20):
        assert usage.admit(own, "/projects/GET") is None
    assert usage.admit(own, "/projects/GET") == "THROTTLED"
    assert usage.admit(shared, "/projects/GET") is None


def test_operations_that_grow_with_the_project_have_method_throttles(plans: dict[str, dict[str, UsagePlans]]) -> None:
    (shared,) = plans["dev"]["project"].plans.values()
    assert shared.methods["/projects/POST"] == Limits(rate=35, burst=70)
    assert shared.methods["/orders/POST"] == Limits(rate=500, burst=500)
    assert shared.throttle == Limits(rate=5000, burst=2500)
    assert shared.quota == 200_000_000 and shared.quota_period == "DAY"
    assert not plans["dev"]["file"].plans["shared"].methods


def test_the_local_gateway_says_what_is_left_of_the_plan(plans: dict[str, dict[str, UsagePlans]]) -> None:
    """`RateLimit` (local only: API Gateway does not tell): the bucket's requests left and the seconds until it is
    full again, the day's quota left and the seconds until UTC midnight, named as the policies are."""
    usage = plans["local"]["file"]
    own = usage_identifier_key("local", "/files", "throttled")
    usage.reset()
    before = usage.remaining(own)
    assert before is not None and before.startswith('"rate";r=20;t=0, "day";r=1000000000;t=')
    for _ in range(5):
        assert usage.admit(own, "/files/GET") is None
    after = usage.remaining(own)
    assert after is not None
    rate, day = after.split(", ")
    assert rate.startswith('"rate";r=15;t=') and int(rate.rsplit("t=", 1)[1]) >= 1
    assert day.startswith('"day";r=999999995;t=') and 0 < int(day.rsplit("t=", 1)[1]) <= 86_400
    assert usage.remaining("not-a-key") is None
    usage.reset()
