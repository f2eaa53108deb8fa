"""Browsers on the allowed origins can call both REST APIs: a preflight on every resource, the
origins handed to every function, the API's error body and CORS on every answer API Gateway makes
itself, and the image bucket's CORS for the same origins."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from deploy.compose_state import file_service_outputs
from tests.deploy.templates import REGION, STAGE, Template

APIS = ("file", "project")
ORIGINS = file_service_outputs(STAGE, REGION)["CorsOrigins"]  # the corsOrigins param's default
# Response type -> (status, error code) of every gateway-made answer.
GATEWAY_RESPONSES = {
    "DEFAULT_4XX": (None, "bad_request"),
    "DEFAULT_5XX": (None, "internal_error"),
    "UNAUTHORIZED": ("401", "unauthorized"),
    "ACCESS_DENIED": ("403", "forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found"),
    "THROTTLED": ("429", "throttled"),
    "QUOTA_EXCEEDED": ("429", "quota_exceeded"),
    "REQUEST_TOO_LARGE": ("413", "payload_too_large"),
    "INVALID_API_KEY": ("403", "forbidden"),
    "INTEGRATION_TIMEOUT": ("504", "gateway_timeout"),
}
HEADERS_A_BROWSER_SENDS = {"Authorization", "Content-Type", "If-Match"}


def methods_by_resource(template: Template) -> dict[str, dict[str, dict[str, Any]]]:
    """Resource logical id -> HTTP method -> the method's properties."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for method in template.of_type("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        out.setdefault(props["ResourceId"]["Ref"], {})[props["HttpMethod"]] = props
    return out


def preflight_origin(options: dict[str, Any], origin: str) -> str:
    """The Access-Control-Allow-Origin the MOCK preflight answers to a request from `origin`: the
    static value, overridden by the response template when one of its patterns matches."""
    (response,) = options["Integration"]["IntegrationResponses"]
    static = response["ResponseParameters"]["method.response.header.Access-Control-Allow-Origin"].strip("'")
    template = response["ResponseTemplates"]["application/json"]
    patterns = re.findall(r'\$origin\.matches\("([^"]+)"\)', template)
    if any(re.fullmatch(pattern, origin) for pattern in patterns):
        assert "responseOverride.header.Access-Control-Allow-Origin = $origin" in template
        return origin
    return static


@pytest.mark.parametrize("service", APIS)
def test_every_resource_with_a_method_has_a_preflight(templates: dict[str, Template], service: str) -> None:
    resources = methods_by_resource(templates[service])
    assert resources
    for resource, methods in resources.items():
        assert "OPTIONS" in methods, f"{service}: {resource} has no CORS preflight"
        options = methods["OPTIONS"]
        assert options["AuthorizationType"] == "NONE" and options["Integration"]["Type"] == "MOCK"
        (response,) = options["Integration"]["IntegrationResponses"]
        params = response["ResponseParameters"]
        allowed_methods = set(params["method.response.header.Access-Control-Allow-Methods"].strip("'").split(","))
        assert set(methods) <= allowed_methods, f"{service}: {resource}"
        allowed_headers = set(params["method.response.header.Access-Control-Allow-Headers"].strip("'").split(","))
        assert allowed_headers >= HEADERS_A_BROWSER_SENDS
        assert "method.response.header.Access-Control-Allow-Credentials" not in params
        assert preflight_origin(options, "http://localhost:5173") == "http://localhost:5173"
        assert preflight_origin(options, "http://127.0.0.1:3000") == "http://127.0.0.1:3000"
        assert preflight_origin(options, "https://evil.example") != "https://evil.example"
        assert preflight_origin(options, "http://localhost.evil.example") != "http://localhost.evil.example"


@pytest.mark.parametrize("service", APIS)
def test_every_function_knows_the_allowed_origins(templates: dict[str, Template], service: str) -> None:
    for name, function in templates[service].functions().items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["IMAGESTORE_CORS_ORIGINS"] == ORIGINS, name


@pytest.mark.parametrize("service", APIS)
@pytest.mark.parametrize("response_type", sorted(GATEWAY_RESPONSES))
def test_gateway_made_answers_have_the_api_error_body_and_cors(
    templates: dict[str, Template], service: str, response_type: str
) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in templates[service].of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    props = responses[response_type]
    status, code = GATEWAY_RESPONSES[response_type]
    assert props["RestApiId"] == {"Ref": "ApiGatewayRestApi"}
    assert props.get("StatusCode") == status
    rendered = props["ResponseTemplates"]["application/json"].replace(
        "$context.error.messageString", json.dumps("what API Gateway says")
    )
    body = json.loads(rendered)
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and set(body) == {"error"}
    headers = props["ResponseParameters"]
    assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "method.request.header.Origin"
    assert headers["gatewayresponse.header.Vary"] == "'Origin'"
    if status == "429" or response_type in ("DEFAULT_5XX", "INTEGRATION_TIMEOUT"):  # a retry may get past it
        assert re.fullmatch(r"'\d+'", headers["gatewayresponse.header.Retry-After"])


def test_the_image_bucket_allows_presigned_uploads_and_downloads_from_the_same_origins(
    templates: dict[str, Template],
) -> None:
    (rule,) = templates["file"].resources["ImagesBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert {"GET", "POST", "HEAD"} <= set(rule["AllowedMethods"])
    assert rule["AllowedOrigins"] == {"Fn::Split": [",", ORIGINS]}
    assert "*" not in ORIGINS.split(",")


def test_the_project_api_reads_the_origins_the_file_service_exports(templates: dict[str, Template]) -> None:
    assert templates["file"].body["Outputs"]["CorsOrigins"]["Value"] == ORIGINS
