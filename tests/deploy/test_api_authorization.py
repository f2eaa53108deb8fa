"""Every route of every REST API goes through the imagestore authorizer; no route is public but each API's
own OpenAPI document (GET /openapi.json) and the File API's phone page (GET /mobile, GET /mobile/{asset})."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.templates import REGION, SERVICES, STAGE, Template

SEEDED_AUTHORIZER = f"arn:aws:lambda:{REGION}:123456789012:function:imagestore-file-{STAGE}-authorizer:1"


def _is_openapi_document(template: Template, props: dict[str, Any]) -> bool:
    resource = template.resources.get(props.get("ResourceId", {}).get("Ref", ""), {})
    return bool(resource.get("Properties", {}).get("PathPart") == "openapi.json")


def _is_phone_page(template: Template, props: dict[str, Any]) -> bool:
    """GET /mobile or /mobile/{asset} of the File API (the mobilePage function's static page)."""
    resource = template.resources.get(props.get("ResourceId", {}).get("Ref", ""), {}).get("Properties", {})
    parent = template.resources.get((resource.get("ParentId") or {}).get("Ref", ""), {}).get("Properties", {})
    return template.service == "file" and (
        resource.get("PathPart") == "mobile"
        or (resource.get("PathPart") == "{asset}" and parent.get("PathPart") == "mobile")
    )


@pytest.mark.parametrize("service", ["file", "project"])
def test_every_method_but_options_uses_the_request_authorizer(templates: dict[str, Template], service: str) -> None:
    template = templates[service]
    methods = template.of_type("AWS::ApiGateway::Method")
    assert methods, f"{service} has no route"
    unprotected = []
    for name, method in methods.items():
        props = method["Properties"]
        if props["HttpMethod"] == "OPTIONS":
            continue
        if _is_openapi_document(template, props) or _is_phone_page(template, props):  # no token
            assert props["HttpMethod"] == "GET" and props["AuthorizationType"] == "NONE", name
            continue
        authorizer = props.get("AuthorizerId", {}).get("Ref")
        if props.get("AuthorizationType") != "CUSTOM" or authorizer not in template.resources:
            unprotected.append(name)
            continue
        assert template.resources[authorizer]["Properties"]["Type"] == "REQUEST"
    assert not unprotected, f"routes without the authorizer: {unprotected}"


@pytest.mark.parametrize("service", ["file", "project"])
def test_the_authorizer_is_the_file_services_function(templates: dict[str, Template], service: str) -> None:
    template = templates[service]
    (authorizer,) = template.of_type("AWS::ApiGateway::Authorizer").values()
    props = authorizer["Properties"]
    assert props["IdentitySource"] == "method.request.header.Authorization"
    uri = props["AuthorizerUri"]["Fn::Join"][1]
    own = {"Fn::GetAtt": ["AuthorizerLambdaFunction", "Arn"]}
    target = own if service == "file" else SEEDED_AUTHORIZER
    assert target in uri


@pytest.mark.parametrize("service", SERVICES)
def test_no_function_has_a_public_url(templates: dict[str, Template], service: str) -> None:
    assert not templates[service].of_type("AWS::Lambda::Url")
    for permission in templates[service].of_type("AWS::Lambda::Permission").values():
        assert permission["Properties"]["Principal"] != "*"
