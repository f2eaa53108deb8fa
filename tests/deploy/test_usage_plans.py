"""Per-tenant throttling in the templates: API key source AUTHORIZER, every authorized method needs
a key, a usage plan (rate, burst, daily quota) per named plan plus the shared one, one key each
with the value the authorizer returns, and method throttles on the operations that grow with the
project's size, each naming a method the API has."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from imagestore.auth import api_of, usage_identifier_key
from tests.deploy.templates import ROOT, STAGE, Template

APIS = ("file", "project")
CONFIG = yaml.safe_load((ROOT / "deploy" / "usage-plans.yml").read_text())
STAGE_CONFIG = CONFIG.get(STAGE) or CONFIG["default"]


def method_paths(template: Template) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Method logical id -> (resource path, HTTP method, properties)."""
    resources = template.of_type("AWS::ApiGateway::Resource")

    def path_of(ref: Any) -> str:
        if not isinstance(ref, dict) or "Ref" not in ref:
            return ""  # the root resource (Fn::GetAtt RestApi.RootResourceId)
        props = resources[ref["Ref"]]["Properties"]
        return f"{path_of(props['ParentId'])}/{props['PathPart']}"

    return {
        name: (path_of(m["Properties"]["ResourceId"]), m["Properties"]["HttpMethod"], m["Properties"])
        for name, m in template.of_type("AWS::ApiGateway::Method").items()
    }


@pytest.mark.parametrize("service", APIS)
def test_the_authorizer_names_the_key_and_every_authorized_method_needs_one(
    templates: dict[str, Template], service: str
) -> None:
    template = templates[service]
    (api,) = template.of_type("AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    for name, (path, method, props) in method_paths(template).items():
        if props["AuthorizationType"] == "CUSTOM":
            assert props["ApiKeyRequired"] is True, name
            # The authorizer picks the key of this API from the resource path.
            assert api_of(path) == service, f"{path}: add its first segment to imagestore.auth.FILE_API_RESOURCES"
        else:
            assert not props.get("ApiKeyRequired"), f"{name}: a public {method} {path} cannot get a key"


@pytest.mark.parametrize("service", APIS)
def test_each_plan_has_its_rate_burst_quota_and_one_key_the_authorizer_returns(
    templates: dict[str, Template], service: str
) -> None:
    template = templates[service]
    plans = template.of_type("AWS::ApiGateway::UsagePlan")
    keys = {name: r["Properties"] for name, r in template.of_type("AWS::ApiGateway::ApiKey").items()}
    links = [r["Properties"] for r in template.of_type("AWS::ApiGateway::UsagePlanKey").values()]
    named = STAGE_CONFIG.get("plans") or {}
    assert len(plans) == 1 + len(named) and len(keys) == len(plans) and len(links) == len(plans)
    resource = "/files" if service == "file" else "/projects"
    expected = {usage_identifier_key(STAGE, resource, None): STAGE_CONFIG["plan"]}
    for name, limits in named.items():
        expected[usage_identifier_key(STAGE, resource, name)] = {**STAGE_CONFIG["plan"], **(limits or {})}
    for link in links:
        key = keys[link["KeyId"]["Ref"]]
        plan = plans[link["UsagePlanId"]["Ref"]]["Properties"]
        limits = expected.pop(key["Value"])
        assert plan["Throttle"] == {"RateLimit": limits["rateLimit"], "BurstLimit": limits["burstLimit"]}
        assert plan["Quota"]["Limit"] == limits["quotaPerDay"] and plan["Quota"]["Period"] == "DAY"
        assert key["Value"].isalnum() and 20 <= len(key["Value"]) <= 128  # what API Gateway takes
    assert not expected, f"keys the authorizer returns that no plan has: {expected}"


@pytest.mark.parametrize("service", APIS)
def test_method_throttles_name_methods_of_the_api(templates: dict[str, Template], service: str) -> None:
    template = templates[service]
    methods = {f"{path}/{method}" for path, method, _ in method_paths(template).values()}
    configured = (STAGE_CONFIG.get("methods") or {}).get(service) or {}
    for plan in template.of_type("AWS::ApiGateway::UsagePlan").values():
        (stage,) = plan["Properties"]["ApiStages"]
        assert stage["Stage"] == STAGE and stage["ApiId"] == {"Ref": "ApiGatewayRestApi"}
        throttle = stage.get("Throttle") or {}
        assert set(throttle) == set(configured)
        assert set(throttle) <= methods, set(throttle) - methods
    if service == "project":
        assert {"/projects/POST", "/projects/{projectId}/PUT", "/orders/POST"} <= set(configured)


def test_the_authorizer_knows_the_plans_the_stage_deploys(templates: dict[str, Template]) -> None:
    (authorizer,) = [f for n, f in templates["file"].functions().items() if n == "AuthorizerLambdaFunction"]
    variables = authorizer["Properties"]["Environment"]["Variables"]
    assert variables["IMAGESTORE_USAGE_PLANS"] == ",".join(STAGE_CONFIG.get("plans") or {})
    assert variables["IMAGESTORE_STAGE"] == STAGE
