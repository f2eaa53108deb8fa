"""No drift between the API's contract and the code: the committed OpenAPI documents are what
deploy/openapi.py generates from the models now, they are valid OpenAPI 3.1, they hold exactly the routes
of every serverless.yml (and of the handlers' resolvers), with the security the templates give them."""

from __future__ import annotations

import importlib
import json
import re
import zipfile
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from deploy import openapi
from imagestore import api
from imagestore.preconditions import parse_if_match
from imagestore_local.config_loader import Project
from imagestore_local.routing import Route, build_routes
from tests.e2e.stack import ROOT

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def routes() -> list[Route]:
    return build_routes(Project(ROOT, stage="local"))


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def _template(path: str) -> str:
    """A route with its parameter names left out: /files/{fileId} and /files/<file_id> are one route."""
    return re.sub(r"\{[^}]+\}|<[^>]+>", "{}", path)


@pytest.mark.parametrize("service", [*openapi.SERVICES, None])
def test_the_committed_document_is_the_one_the_models_give(service: str | None) -> None:
    path = openapi.document_paths()[service]
    assert path.read_text(encoding="utf-8") == openapi.render(openapi.build(service)), (
        f"{path.relative_to(ROOT)} is out of date with the models or deploy/openapi.py: run `make openapi` "
        "and commit the result"
    )


@pytest.mark.parametrize("service", [*openapi.SERVICES, None])
def test_each_document_is_valid_openapi_3_1(service: str | None) -> None:
    document = openapi.build(service)
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_route_of_every_service_is_documented_and_nothing_else(routes: list[Route]) -> None:
    services_with_routes = {route.service.key for route in routes}
    assert services_with_routes == set(openapi.SERVICES), "a REST API without a document, or the reverse"
    for service in openapi.SERVICES:
        in_templates = {(r.method, r.resource) for r in routes if r.service.key == service}
        documented = set(_operations(openapi.build(service)))
        assert documented - in_templates == set(), f"{service}: documented, but no such route in serverless.yml"
        assert in_templates - documented == set(), (
            f"{service}: routes of serverless.yml missing from deploy/openapi.py's OPERATIONS"
        )
    merged = set(_operations(openapi.build()))
    assert merged == {(r.method, r.resource) for r in routes}


PUBLIC_RESOURCES = {"file": {"/openapi.json", "/mobile", "/mobile/{asset}"}, "project": {"/openapi.json"}}


def test_only_the_document_itself_is_served_without_a_token(routes: list[Route]) -> None:
    for service in openapi.SERVICES:
        operations = _operations(openapi.build(service))
        for route in (r for r in routes if r.service.key == service):
            security = operations[(route.method, route.resource)]["security"]
            if route.authorizer is None:  # the document, and the File API's phone page
                assert route.resource in PUBLIC_RESOURCES[service] and security == [], route.resource
            else:
                assert security and all(set(s) <= {"bearerJwt", "mobileUploadToken"} for s in security)
                statuses = operations[(route.method, route.resource)]["responses"]
                assert {"401", "403"} <= set(statuses), f"{route.method} {route.resource}: 401/403 undocumented"


def test_each_handlers_resolver_serves_exactly_its_functions_routes(
    routes: list[Route], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGESTORE_TABLE_NAME", "imagestore-test")
    monkeypatch.setenv("IMAGESTORE_BUCKET_NAME", "imagestore-test-images")
    by_handler: dict[str, set[tuple[str, str]]] = {}
    for route in routes:
        by_handler.setdefault(route.function.handler, set()).add((route.method, _template(route.resource)))
    for handler, expected in by_handler.items():
        module_name, _, attribute = handler.replace("/", ".").rpartition(".")
        module = importlib.import_module(module_name)
        app = getattr(module, "app", None)
        if app is None:  # a plain handler: the document's own function (one route), the phone page (two)
            assert callable(getattr(module, attribute)), handler
            assert len(expected) == (2 if module_name.endswith("mobile_page") else 1), handler
            continue
        served = {(r.method, _template(r.path)) for r in app._static_routes + app._dynamic_routes}
        assert served == expected, f"{handler}: resolver routes differ from serverless.yml"


def test_every_error_status_the_api_maps_is_described() -> None:
    assert set(api.STATUS_BY_ERROR.values()) <= set(openapi.ERROR_DESCRIPTIONS)


def test_response_models_state_every_field_they_write() -> None:
    """Clients (the load test, the end-to-end tests) can rely on every field the document names: a
    response schema lists all its properties as required and allows no other."""
    document = openapi.build()
    schemas = document["components"]["schemas"]
    for op in _operations(document).values():
        for response in op["responses"].values():
            ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
            if ref is None:
                continue
            schema = schemas[ref.rsplit("/", 1)[1]]
            assert schema["additionalProperties"] is False and set(schema["required"]) == set(schema["properties"])


def test_a_document_names_its_links_targets() -> None:
    document = openapi.build()
    ids = {op["operationId"] for op in _operations(document).values()}
    for op in _operations(document).values():
        for response in op["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in ids
    assert json.loads(openapi.render(document)) == document


@pytest.mark.parametrize("service", openapi.SERVICES)
def test_each_api_serves_its_own_document_without_a_token(service: str, templates: dict[str, Any]) -> None:
    """In AWS: GET /openapi.json of each REST API is its openapi function (no authorizer, CORS for any
    origin), which answers the document packaged with the service."""
    handler = importlib.import_module(f"{service}_service.handlers.openapi").handler
    answer = handler({"httpMethod": "GET", "path": "/openapi.json"}, None)
    committed = openapi.document_paths()[service].read_text(encoding="utf-8")
    assert answer["statusCode"] == 200 and answer["headers"]["Content-Type"] == "application/json"
    assert answer["body"] == committed and json.loads(answer["body"])["info"]["title"] == openapi.TITLES[service]

    template = templates[service]
    function = template.functions()["OpenapiLambdaFunction"]["Properties"]
    assert function["Handler"] == f"{service}_service/handlers/openapi.handler"
    with zipfile.ZipFile(ROOT / "services" / service / ".serverless" / f"imagestore-{service}.zip") as package:
        assert package.read("openapi.json").decode("utf-8") == committed


def test_every_request_example_is_a_body_its_model_accepts() -> None:
    examples = [op for op in openapi.OPERATIONS if op.body is not None and op.body_example is not None]
    assert {op.operation_id for op in examples} >= {"requestUpload", "createProject", "addCartItem", "placeOrder"}
    for op in examples:
        assert op.body is not None and op.body_example is not None
        op.body.model_validate(op.body_example)


# Clients shipped here that read API responses, and the keys they read that are not response fields.
CLIENTS = {"loadtest/locustfile.py": set(), "tests/e2e/test_mobile_browser.py": {"CI"}}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_our_clients_read_only_fields_the_document_states(client: str) -> None:
    """The load test and the browser test need to know no field name the document does not state."""
    stated = {name for schema in openapi.build()["components"]["schemas"].values() for name in _property_names(schema)}
    source = (ROOT / client).read_text(encoding="utf-8")
    read = set(re.findall(r'\["([A-Za-z]+)"\]|\.get\("([A-Za-z]+)"', source))
    names = {a or b for a, b in read} - CLIENTS[client]
    assert names and names <= stated, f"{client} reads fields the document does not state: {names - stated}"


def _property_names(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        own = set(schema.get("properties", {})) if isinstance(schema.get("properties"), dict) else set()
        return own | {n for value in schema.values() for n in _property_names(value)}
    if isinstance(schema, list):
        return {n for value in schema for n in _property_names(value)}
    return set()


@given(st.from_regex(openapi.IF_MATCH.schema["pattern"]))
@settings(max_examples=200, deadline=None)
def test_every_if_match_the_document_allows_names_a_version_the_api_takes(value: str) -> None:
    assert parse_if_match(value) >= 1
