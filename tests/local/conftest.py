"""Fixtures of the local-stack tests: a throw-away repository with stub services and handlers."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STUB_HANDLERS = """
import json
import os

# Each function runs in worker processes of its own: what the test reads goes through a file.
CALLS_FILE = os.path.join(os.path.dirname(__file__), "calls.jsonl")


def _record(event):
    with open(CALLS_FILE, "a") as out:
        out.write(json.dumps(event) + "\\n")


def _policy(event, effect, resource=None):
    arn = event["methodArn"]
    prefix = arn.split("/", 1)[0]
    return {
        "principalId": "t1|u1",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource or f"{prefix}/*/*"}
        ]},
        "context": {"tid": "t1", "sub": "u1", "n": 5, "flag": True},
    }


def authorizer(event, context):
    _record(event)
    token = event["headers"].get("Authorization", "")
    if token == "Bearer deny":
        return _policy(event, "Deny")
    if token == "Bearer nobody":
        raise Exception("Unauthorized")
    if token == "Bearer boom":
        raise RuntimeError("boom")
    if token.startswith("Bearer key-"):
        return {**_policy(event, "Allow"), "usageIdentifierKey": token.removeprefix("Bearer ")}
    if token == "Bearer get-only":
        return _policy(event, "Allow", event["methodArn"].split("/", 1)[0] + "/*/GET/items/*")
    return _policy(event, "Allow")


def echo(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Fn": context.function_name},
        "body": json.dumps({"event": event, "remaining": context.get_remaining_time_in_millis()}),
    }


def binary(event, context):
    import base64
    return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
            "body": base64.b64encode(b"\\x89PNG-bytes").decode()}


def big(event, context):
    size = int((event.get("queryStringParameters") or {}).get("bytes", "0"))
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "x" * size}


def event_target(event, context):
    _record(event)
    return {"got": event["detail-type"]}
"""

STUB_YML = """
service: stub
provider:
  name: aws
  stage: ${opt:stage, 'dev'}
  region: ${opt:region, 'eu-west-1'}
  timeout: 7
  environment:
    STUB_TABLE: !Ref Table
    STUB_STAGE: ${sls:stage}
    STUB_SUB: !Sub "${AWS::StackName}-${Table}-${AWS::Region}"
    STUB_LEVEL: ${param:logLevel, env:STUB_LEVEL_FALLBACK, 'INFO'}
  apiGateway:
    apiKeySourceType: AUTHORIZER
    usagePlan:
      - slow:
          throttle: {rateLimit: 1, burstLimit: 2}
          quota: {limit: 4, period: DAY}
      - fast:
          throttle: {rateLimit: 1000, burstLimit: 1000}
    apiKeys:
      - slow: [{name: slow, value: key-slow-0123456789abcdef}]
      - fast: [{name: fast, value: key-fast-0123456789abcdef}]
custom:
  prefix: stub-${sls:stage}
  nested:
    value: ${self:custom.prefix}-nested
functions:
  auth:
    handler: PKG/handlers.authorizer
  echo:
    handler: PKG/handlers.echo
    environment:
      ECHO_ARN: !GetAtt Table.Arn
    events:
      - http:
          path: items/{itemId}
          method: get
          cors:
            origin: https://shop.example,https://*.brand.example
            headers: [Authorization, Content-Type]
            maxAge: 600
          authorizer: &auth
            name: auth
            type: request
            identitySource: method.request.header.Authorization
            resultTtlInSeconds: 300
      - http:
          path: items
          method: post
          authorizer:
            name: auth
            type: request
            resultTtlInSeconds: 0
      - http:
          path: items/special
          method: get
      - http:
          path: open/{proxy+}
          method: any
  binary:
    handler: PKG/handlers.binary
    events:
      - http: GET /blob
  limited:
    handler: PKG/handlers.echo
    events:
      - http:
          path: limited/{id}
          method: get
          private: true
          authorizer: {name: auth, type: request, resultTtlInSeconds: 300}
      - http:
          path: limited/{id}
          method: post
          private: true
          authorizer: {name: auth, type: request, resultTtlInSeconds: 300}
  big:
    handler: PKG/handlers.big
    events:
      - http: GET /big
  broken:
    handler: PKG/missing_module.handler
    events:
      - http: GET /broken
  target:
    handler: PKG/handlers.event_target
    events:
      - eventBridge:
          pattern:
            source: [imagestore.auth]
            detail-type: [UserLoggedOut]
      - schedule: rate(2 hours)
resources:
  extensions:
    ApiGatewayUsagePlanFast:
      Properties:
        ApiStages:
          - ApiId: {Ref: ApiGatewayRestApi}
            Stage: ${sls:stage}
            Throttle: {"/limited/{id}/POST": {RateLimit: 1, BurstLimit: 1}}
  Resources:
    Throttled:
      Type: AWS::ApiGateway::GatewayResponse
      Properties:
        ResponseType: THROTTLED
        RestApiId: !Ref ApiGatewayRestApi
        StatusCode: "429"
        ResponseParameters:
          gatewayresponse.header.Retry-After: "'1'"
        ResponseTemplates:
          application/json: '{"error":{"code":"throttled","message":$context.error.messageString}}'
    Table:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: ${self:custom.prefix}-table
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
        KeySchema: [{AttributeName: pk, KeyType: HASH}]
    Unauthorized:
      Type: AWS::ApiGateway::GatewayResponse
      Properties:
        ResponseType: UNAUTHORIZED
        RestApiId: !Ref ApiGatewayRestApi
        StatusCode: "401"
        ResponseParameters:
          gatewayresponse.header.Access-Control-Allow-Origin: method.request.header.Origin
          gatewayresponse.header.Vary: "'Origin'"
        ResponseTemplates:
          application/json: '{"error":{"code":"unauthorized","message":$context.error.messageString}}'
  Outputs:
    TableName:
      Value: !Ref Table
    TableArn:
      Value: !GetAtt Table.Arn
"""

CONSUMER_YML = """
service: consumer
provider:
  name: aws
  stage: ${opt:stage, 'dev'}
  environment:
    CONSUMER_TABLE: ${param:tableName}
functions:
  echo:
    handler: PKG/handlers.echo
    events:
      - http:
          path: things
          method: get
          authorizer:
            name: authorizer
            arn: ${param:authorizerArn}
            type: request
            resultTtlInSeconds: 300
"""

COMPOSE_YML = """
services:
  stub:
    path: services/stub
  consumer:
    path: services/consumer
    params:
      tableName: ${stub.TableName}
      authorizerArn: ${stub.AuthLambdaFunctionQualifiedArn}
"""


@dataclass
class StubRepo:
    """A repository root with services/stub and services/consumer."""

    root: Path
    package: str

    def calls(self) -> list[dict[str, Any]]:
        """The events the stub authorizer and event target got, oldest first (their workers write them)."""
        path = self.root / "services" / "stub" / self.package / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def stub_repo(tmp_path: Path) -> StubRepo:
    """Write the stub services (the same text every time, so that osls print's cache answers after the first)."""
    package = "stubpkg"  # imported only by the functions' worker processes, never by the test's
    for service, yml in (("stub", STUB_YML), ("consumer", CONSUMER_YML)):
        folder = tmp_path / "services" / service
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text("")
        (folder / package / "handlers.py").write_text(textwrap.dedent(STUB_HANDLERS))
        (folder / "serverless.yml").write_text(yml.replace("PKG", package))
    (tmp_path / "serverless-compose.yml").write_text(COMPOSE_YML)
    return StubRepo(root=tmp_path, package=package)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No local-stack variables leaking in from the shell."""
    for name in list(os.environ):
        if name.startswith(("IMAGESTORE_", "STUB_", "AWS_ENDPOINT_URL")):
            monkeypatch.delenv(name)


# Tenant settings of the shared stack (IMAGESTORE_TENANT_SETTINGS): a test that needs a tenant with settings of
# its own on it takes the tenant's name from here.
SHORT_URLS_TENANT = "short"  # presigned upload and download URLs that live 2 seconds
SHARED_STACK_TENANT_SETTINGS = {SHORT_URLS_TENANT: {"upload_url_seconds": 2, "download_url_seconds": 2}}


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local stack for the tests of a worker that only need a stack to talk to: each uses tenants and
    users of its own and leaves the stack's clock alone (a stack takes tens of seconds to start). Tests that
    move the clock, set a fault mode, restart the stack or read it whole (its log) start their own
    (tests/e2e/stack.py:running_stack); docs/testing.md lists which."""
    from tests.e2e.stack import running_stack

    settings = {"IMAGESTORE_TENANT_SETTINGS": json.dumps(SHARED_STACK_TENANT_SETTINGS)}
    with running_stack(tmp_path_factory.mktemp("shared-stack") / "data", extra_env=settings) as handle:
        yield handle
