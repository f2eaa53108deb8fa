"""Least privilege: every function has a role of its own that names only the ARNs it needs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.templates import REGION, SERVICES, STAGE, Template, as_list, render, role_statements

ACCOUNT = "${AWS::AccountId}"
SEEDED_ACCOUNT = "123456789012"  # deploy/compose_state.py: the file service's outputs seen by the others
TABLE_ARN = {
    "file": "GetAtt:Table.Arn",
    "project": f"arn:aws:dynamodb:{REGION}:{SEEDED_ACCOUNT}:table/imagestore-{STAGE}",
    "scheduler": f"arn:aws:dynamodb:{REGION}:{SEEDED_ACCOUNT}:table/imagestore-{STAGE}",
}
INDEXES = ("gsi1", "expiry")
OBJECTS_ARN = f"arn:aws:s3:::imagestore-{STAGE}-images-{REGION}/*"
# X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions: "*" is the
# only Resource they accept, so it is the one allowed exception.
STAR_ONLY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def on(resources: set[str], *actions: str) -> dict[str, set[str]]:
    """Each action on these resources."""
    return {action: set(resources) for action in actions}


# What the file service's handlers call (layer/imagestore/data): exactly these actions, on exactly
# these resources. The other services are checked by the general rules below.
FILE_SERVICE_GRANTS = {
    "authorizer": {
        "ssm:GetParameter": {f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/imagestore/{STAGE}/jwt-secret"},
        "kms:Decrypt": {f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"},
        # Only the registry's and the mobile uploads' items (test_the_tenant_registry_is_read_only...).
        "dynamodb:GetItem": {"GetAtt:Table.Arn"},
    },
    "mobilePage": {},
    "uploads": {
        **on(
            {"GetAtt:Table.Arn"},
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
        ),
        # file.refused, mobile_upload.file_added: PutItems of the event log in their change's transaction
        # (the outbox); only the project service's webhookRelay puts on the bus.
        **on({OBJECTS_ARN}, "s3:PutObject", "s3:GetObject", "s3:DeleteObject"),
        # Multipart uploads write staging keys only (imagestore.keys.staging_key).
        **on({f"{OBJECTS_ARN.removesuffix('*')}*.upload"}, "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"),
    },
    "files": {
        **on({"GetAtt:Table.Arn"}, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:DeleteItem"),
        **on({OBJECTS_ARN}, "s3:GetObject", "s3:DeleteObject"),
    },
    "objectCreated": {
        # PutItem: the SHA-256 pointer of a completed file (duplicates).
        **on({"GetAtt:Table.Arn"}, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
        **on({OBJECTS_ARN}, "s3:PutObject", "s3:GetObject", "s3:DeleteObject"),
        "sqs:SendMessage": {"GetAtt:ObjectCreatedDeadLetterQueue.Arn"},
    },
    # Reads whole originals; writes and deletes previews only (imagestore.keys.preview_key).
    "previews": {
        # PutItem: only the event log's keys (file.ready, written with the previews: the outbox).
        **on({"GetAtt:Table.Arn"}, "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"),
        "s3:GetObject": {OBJECTS_ARN},
        **on(
            {f"{OBJECTS_ARN.removesuffix('*')}*.preview.thumb", f"{OBJECTS_ARN.removesuffix('*')}*.preview.screen"},
            "s3:PutObject",
            "s3:DeleteObject",
        ),
        "sqs:SendMessage": {"GetAtt:PreviewsDeadLetterQueue.Arn"},
    },
}


def function_roles(template: Template) -> dict[str, str]:
    """Function name (as in serverless.yml) -> the logical id of its role."""
    roles = {}
    for function in template.functions().values():
        props = function["Properties"]
        role = props["Role"]
        assert isinstance(role, dict) and "Fn::GetAtt" in role, f"{props['FunctionName']}: foreign role"
        name = props["FunctionName"].removeprefix(f"imagestore-{template.service}-{STAGE}-")
        roles[name] = role["Fn::GetAtt"][0]
    return roles


def grants(template: Template, role: str) -> dict[str, set[str]]:
    """Action -> rendered resources, over every Allow statement of the role."""
    result: dict[str, set[str]] = {}
    for statement in role_statements(template, role):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            result.setdefault(action, set()).update(str(render(r)) for r in as_list(statement["Resource"]))
    return result


def arn_prefix(service: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:"


def allowed_resource(template: Template, function: str, action: str, resource: str, statement: dict[str, Any]) -> bool:
    """Is `resource` one an imagestore function may name for `action`?"""
    service = action.split(":", 1)[0]
    table = TABLE_ARN[template.service]
    if service == "xray":
        return resource == "*"
    if service == "logs":
        name = f"imagestore-{template.service}-{STAGE}-{function}"
        return resource == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}:*"
    if service == "dynamodb":
        if action in {
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:DescribeStream",
            "dynamodb:ListStreams",
        }:
            return resource.startswith(f"{table}/stream/") or resource == "GetAtt:Table.StreamArn"
        return resource == table or resource in {f"{table}/index/{index}" for index in INDEXES}
    if service == "s3":  # the bucket, its objects, or a narrower pattern of its keys (the previews')
        return resource in {OBJECTS_ARN, OBJECTS_ARN.removesuffix("/*")} or (
            resource.startswith(OBJECTS_ARN.removesuffix("*")) and len(resource) > len(OBJECTS_ARN)
        )
    if service == "sqs":
        match = re.fullmatch(r"GetAtt:(\w+)\.Arn", resource)
        return bool(match) and template.resources.get(match.group(1), {}).get("Type") == "AWS::SQS::Queue"
    if service == "events":
        return re.fullmatch(rf"{re.escape(arn_prefix('events'))}event-bus/[\w.-]+", resource) is not None
    if service == "lambda":  # the sweep's fan-out: a function may invoke itself, and nothing else
        name = f"imagestore-{template.service}-{STAGE}-{function}"
        return action == "lambda:InvokeFunction" and resource == f"{arn_prefix('lambda')}function:{name}"
    if service == "ssm":
        return re.fullmatch(rf"{re.escape(arn_prefix('ssm'))}parameter/[\w/.-]+", resource) is not None
    if service == "kms":
        # The key of a SecureString is not known to the template: any key, but only through SSM
        # and only for one parameter (SSM's encryption context).
        condition = statement.get("Condition", {}).get("StringEquals", {})
        return (
            resource == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"
            and "kms:ViaService" in condition
            and "kms:EncryptionContext:PARAMETER_ARN" in condition
        )
    return False


@pytest.mark.parametrize("service", SERVICES)
def test_every_function_has_a_role_of_its_own(templates: dict[str, Template], service: str) -> None:
    template = templates[service]
    roles = function_roles(template)
    assert roles, f"{service} has no function"
    assert len(set(roles.values())) == len(roles), f"{service}: functions share a role: {roles}"
    assert "IamRoleLambdaExecution" not in template.resources, "the shared default role is back"
    for role in roles.values():
        props = template.resources[role]["Properties"]
        assert not props.get("ManagedPolicyArns"), f"{role}: managed policies are not least privilege"
        trust = props["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}]


@pytest.mark.parametrize("service", SERVICES)
def test_statements_name_no_wildcard_and_only_the_resources_needed(
    templates: dict[str, Template], service: str
) -> None:
    template = templates[service]
    problems = []
    for function, role in function_roles(template).items():
        for statement in role_statements(template, role):
            actions = as_list(statement["Action"])
            for action in actions:
                if "*" in action:
                    problems.append(f"{function}: wildcard action {action}")
                for resource in (str(render(r)) for r in as_list(statement["Resource"])):
                    if resource == "*" and action not in STAR_ONLY_ACTIONS:
                        problems.append(f"{function}: {action} on Resource '*'")
                    elif not allowed_resource(template, function, action, resource, statement):
                        problems.append(f"{function}: {action} on {resource}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("service", SERVICES)
def test_every_function_can_write_its_logs_and_traces(templates: dict[str, Template], service: str) -> None:
    template = templates[service]
    for function, role in function_roles(template).items():
        granted = grants(template, role)
        assert granted.get("xray:PutTraceSegments") == {"*"}, function
        assert granted.get("logs:PutLogEvents") and granted.get("logs:CreateLogStream"), function
        assert "logs:CreateLogGroup" not in granted, f"{function}: the log group is a stack resource"


@pytest.mark.parametrize("function", sorted(FILE_SERVICE_GRANTS))
def test_file_service_functions_get_exactly_what_their_handlers_call(
    templates: dict[str, Template], function: str
) -> None:
    template = templates["file"]
    granted = grants(template, function_roles(template)[function])
    data = {action: resources for action, resources in granted.items() if not action.startswith(("logs:", "xray:"))}
    assert data == FILE_SERVICE_GRANTS[function]


PROJECT_TABLE = TABLE_ARN["project"]
# The webhook functions (project service): exactly what their handlers call.
WEBHOOK_GRANTS = {
    "webhooks": {
        **on({PROJECT_TABLE}, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
        "dynamodb:Query": {PROJECT_TABLE, f"{PROJECT_TABLE}/index/gsi1"},
        "sqs:SendMessage": {"GetAtt:WebhookQueue.Arn"},  # replays
    },
    "webhookDelivery": {
        **on({PROJECT_TABLE}, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"),
        **on(
            {"GetAtt:WebhookQueue.Arn"},
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility",
            "sqs:SendMessage",
        ),
    },
}


# The collaboration functions (docs/collaboration.md): table items only; no S3, no index.
COLLABORATION_GRANTS = {
    "members": on(
        {PROJECT_TABLE},
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    ),
    "comments": on(
        {PROJECT_TABLE},
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ),
}


@pytest.mark.parametrize("function", sorted(COLLABORATION_GRANTS))
def test_collaboration_functions_get_exactly_what_their_handlers_call(
    templates: dict[str, Template], function: str
) -> None:
    template = templates["project"]
    granted = grants(template, function_roles(template)[function])
    data = {action: resources for action, resources in granted.items() if not action.startswith(("logs:", "xray:"))}
    assert data == COLLABORATION_GRANTS[function]


@pytest.mark.parametrize("function", sorted(WEBHOOK_GRANTS))
def test_webhook_functions_get_exactly_what_their_handlers_call(templates: dict[str, Template], function: str) -> None:
    template = templates["project"]
    granted = grants(template, function_roles(template)[function])
    data = {action: resources for action, resources in granted.items() if not action.startswith(("logs:", "xray:"))}
    assert data == WEBHOOK_GRANTS[function]


# Functions that read the tenant registry (imagestore.tenants): every API function that has a caller
# (imagestore.api.principal and the answers' CORS), the authorizer (usage plan), the S3-event function,
# the previews function (its webhooks) and the sweep (a tenant's settings).
REGISTRY_READERS = {
    "file": ("authorizer", "uploads", "files", "mobileUploads", "objectCreated", "previews"),
    "project": ("projects", "shares", "members", "comments", "cartItems", "orders", "webhooks"),
    "scheduler": ("sweep",),
}
# The roles that get GetItem for the registry alone: their grant names the registry's partition key.
REGISTRY_ONLY = {
    "file": {"authorizer": ["TENANTS", "T#*#MU#*"]},
    "project": {"cartItems": ["TENANTS", "T#*#U#*#IDEM#*"]},
}


@pytest.mark.parametrize("service", SERVICES)
def test_the_tenant_registry_is_read_only_and_only_its_keys_where_nothing_else_is_read(
    templates: dict[str, Template], service: str
) -> None:
    template = templates[service]
    roles = function_roles(template)
    variables = {
        name.removeprefix(f"imagestore-{service}-{STAGE}-"): f["Properties"]
        for f in template.functions().values()
        for name in [f["Properties"]["FunctionName"]]
    }
    for function in REGISTRY_READERS[service]:
        statements = [
            st for st in role_statements(template, roles[function]) if "dynamodb:GetItem" in as_list(st["Action"])
        ]
        assert statements, f"{function} reads the registry: it needs GetItem on the table"
        assert all(str(render(r)) == TABLE_ARN[service] for st in statements for r in as_list(st["Resource"]))
        env = variables[function].get("Environment", {}).get("Variables", {})
        assert "IMAGESTORE_TENANT_CACHE_SECONDS" in env, function
        narrowed = REGISTRY_ONLY.get(service, {}).get(function)
        if narrowed is not None:
            (statement,) = statements
            assert as_list(statement["Action"]) == ["dynamodb:GetItem"]
            condition = statement["Condition"][
                "ForAllValues:StringLike" if len(narrowed) > 1 else "ForAllValues:StringEquals"
            ]
            assert condition == {"dynamodb:LeadingKeys": narrowed}
    # Nothing writes it but the admin (imagestore-admin, with the operator's own credentials); a statement
    # narrowed to other keys (the webhook event log's T#*#WHEVT#*) never names the registry's.
    for function, role in roles.items():
        for statement in role_statements(template, role):
            condition = statement.get("Condition", {})
            leading = [v.get("dynamodb:LeadingKeys") for v in condition.values() if isinstance(v, dict)]
            if any(leading) and any(k == "TENANTS" for keys_ in leading if keys_ for k in as_list(keys_)):
                assert as_list(statement["Action"]) == ["dynamodb:GetItem"], function


def test_functions_that_build_links_have_the_stages_public_url(templates: dict[str, Template]) -> None:
    """Not the local stack's address: the custom domain when the customDomain param is set, else the API's
    generated endpoint (an Fn::If on the HasCustomDomain condition)."""
    for service in ("file", "project"):
        template = templates[service]
        for function in template.functions().values():
            value = function["Properties"]["Environment"]["Variables"].get("IMAGESTORE_PUBLIC_BASE_URL")
            assert isinstance(value, dict) and "Fn::If" in value, function["Properties"]["FunctionName"]
            condition, custom, generated = value["Fn::If"]
            assert condition == "HasCustomDomain" and "127.0.0.1" not in str(value) and "localhost" not in str(value)
            assert custom == {"Fn::Sub": "https://${CustomDomain}"}
            assert generated == {
                "Fn::Sub": f"https://${{ApiGatewayRestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{STAGE}"
            }
        assert template.body["Conditions"]["HasCustomDomain"] == {
            "Fn::Not": [{"Fn::Equals": [{"Ref": "CustomDomain"}, ""]}]
        }
        assert template.body["Parameters"]["CustomDomain"]["Default"] == ""  # the param's default
