"""CloudFormation intrinsics evaluated locally, and the emulated resources created from them."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from imagestore_local.config_loader import ACCOUNT_ID, ServiceConfig

log = logging.getLogger("imagestore_local.cloudformation")

NO_VALUE = object()


def _generated_name(stack: str, logical_id: str, lower: bool = False, limit: int = 255) -> str:
    """A stable stand-in for the name CloudFormation generates when none is given."""
    suffix = hashlib.sha1(f"{stack}/{logical_id}".encode()).hexdigest()[:12]
    name = f"{stack}-{logical_id}-{suffix}"
    if lower:
        name = re.sub(r"[^a-z0-9.-]", "-", name.lower())
    return name[:limit]


class Intrinsics:
    """Evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::Join, ... against one service's resources."""

    def __init__(self, service: ServiceConfig) -> None:
        self.service = service
        self.resources = service.resources
        self.region = service.region
        self.functions_by_logical_id = {fn.logical_id: fn for fn in service.functions.values()}

    # ---- names

    def pseudo(self, name: str) -> Any:
        """AWS::Region and friends."""
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.service.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.service.stack_name}/local"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }
        if name not in values:
            raise KeyError(name)
        return values[name]

    def physical_name(self, logical_id: str) -> str:
        """What Ref returns for a resource."""
        if logical_id in self.functions_by_logical_id:
            return self.functions_by_logical_id[logical_id].name
        if logical_id.endswith("LambdaLayer"):
            return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:layer:{logical_id}:1"
        if logical_id not in self.resources:
            raise KeyError(f"unknown resource {logical_id}")
        resource = self.resources[logical_id]
        props = resource.get("Properties") or {}
        rtype = resource.get("Type", "")
        stack = self.service.stack_name
        if rtype == "AWS::DynamoDB::Table":
            return str(self.evaluate(props.get("TableName")) or _generated_name(stack, logical_id))
        if rtype == "AWS::S3::Bucket":
            return str(self.evaluate(props.get("BucketName")) or _generated_name(stack, logical_id, True, 63))
        if rtype == "AWS::Events::EventBus":
            return str(self.evaluate(props.get("Name")))
        if rtype == "AWS::SQS::Queue":
            name = self.evaluate(props.get("QueueName")) or _generated_name(stack, logical_id)
            return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{name}"
        if rtype == "AWS::SNS::Topic":
            name = self.evaluate(props.get("TopicName")) or _generated_name(stack, logical_id)
            return f"arn:aws:sns:{self.region}:{ACCOUNT_ID}:{name}"
        name_prop = next((key for key in ("Name", "FunctionName", "RoleName") if key in props), None)
        if name_prop:
            return str(self.evaluate(props[name_prop]))
        return _generated_name(stack, logical_id)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        """What Fn::GetAtt returns (fake ARNs with the physical names)."""
        if logical_id in self.functions_by_logical_id:
            fn = self.functions_by_logical_id[logical_id]
            if attribute == "Arn":
                return fn.arn
            raise KeyError(f"{logical_id}.{attribute}")
        if logical_id not in self.resources:
            raise KeyError(f"unknown resource {logical_id}")
        rtype = self.resources[logical_id].get("Type", "")
        name = self.physical_name(logical_id)
        region = self.region
        if rtype == "AWS::DynamoDB::Table":
            table_arn = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"
            values = {"Arn": table_arn, "StreamArn": f"{table_arn}/stream/1970-01-01T00:00:00.000"}
        elif rtype == "AWS::S3::Bucket":
            values = {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{region}.amazonaws.com",
            }
        elif rtype == "AWS::Events::EventBus":
            values = {"Arn": f"arn:aws:events:{region}:{ACCOUNT_ID}:event-bus/{name}", "Name": name}
        elif rtype == "AWS::SQS::Queue":
            queue = name.rsplit("/", 1)[-1]
            values = {
                "Arn": f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{queue}",
                "QueueName": queue,
                "QueueUrl": name,
            }
        elif rtype == "AWS::IAM::Role":
            values = {"Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", "RoleId": "AROALOCAL"}
        else:
            service = rtype.split("::")[1].lower() if rtype.count("::") == 2 else "unknown"
            values = {"Arn": f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{name}"}
        if attribute not in values:
            raise KeyError(f"{logical_id}.{attribute}")
        return values[attribute]

    def ref(self, name: str) -> Any:
        """Ref to a pseudo parameter or a resource."""
        if name.startswith("AWS::"):
            return self.pseudo(name)
        return self.physical_name(name)

    # ---- evaluation

    def evaluate(self, value: Any) -> Any:
        """Evaluate intrinsics anywhere in a value; dicts/lists are walked."""
        if isinstance(value, list):
            items = [self.evaluate(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        out = {key: self.evaluate(item) for key, item in value.items()}
        return {key: item for key, item in out.items() if item is not NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        """One Fn:: function."""
        if name == "GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else [self.evaluate(part) for part in arg]
            return self.get_att(str(parts[0]), str(parts[1]))
        if name == "Sub":
            return self._sub(arg)
        if name == "Join":
            separator, items = arg
            return str(separator).join(str(item) for item in self.evaluate(items))
        if name == "Select":
            index, items = self.evaluate(arg)
            return items[int(index)]
        if name == "Split":
            separator, text = self.evaluate(arg)
            return str(text).split(str(separator))
        if name == "GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if name == "ToJsonString":
            return json.dumps(self.evaluate(arg))
        if name == "Base64":
            import base64

            return base64.b64encode(str(self.evaluate(arg)).encode()).decode()
        if name == "If":
            log.debug("Fn::If evaluated with its condition taken as true")
            return self.evaluate(arg[1])
        raise ValueError(f"Fn::{name} is not supported locally")

    def _sub(self, arg: Any) -> str:
        """Fn::Sub with ${Pseudo}, ${LogicalId}, ${LogicalId.Attr} and explicit variables."""
        if isinstance(arg, list):
            template, variables = str(arg[0]), {k: self.evaluate(v) for k, v in (arg[1] or {}).items()}
        else:
            template, variables = str(arg), {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, template)


def environment_of(service: ServiceConfig, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """provider.environment (plus extra) with intrinsics evaluated, as strings."""
    intrinsics = Intrinsics(service)
    env: dict[str, str] = {}
    merged = {**(service.provider.get("environment") or {}), **(extra or {})}
    for name, value in merged.items():
        try:
            evaluated = intrinsics.evaluate(value)
        except (KeyError, ValueError) as exc:
            log.warning("service %s: environment %s not resolvable locally (%s); skipped", service.key, name, exc)
            continue
        if evaluated is None or evaluated is NO_VALUE:
            continue
        env[name] = evaluated if isinstance(evaluated, str) else json.dumps(evaluated)
    return env


# --------------------------------------------------------------------------- resource creation


def create_resources(service: ServiceConfig, dynamodb: Any, s3: Any) -> dict[str, dict[str, Any]]:
    """Create the tables and buckets of one service that do not exist yet (bucket CORS: app.py, every start);
    returns every table and bucket of the service, name -> evaluated properties."""
    intrinsics = Intrinsics(service)
    found: dict[str, dict[str, Any]] = {"tables": {}, "buckets": {}}
    created = []
    for logical_id, resource in service.resources.items():
        kind = {"AWS::DynamoDB::Table": "tables", "AWS::S3::Bucket": "buckets"}.get(resource.get("Type", ""))
        if kind is None:
            continue
        name = intrinsics.physical_name(logical_id)
        props: dict[str, Any] = {}
        for key, value in (resource.get("Properties") or {}).items():
            try:
                props[key] = intrinsics.evaluate(value)
            except (KeyError, ValueError) as exc:  # e.g. a notification naming what the stack does not create
                log.debug("%s %s: property %s skipped locally: %s", kind, name, key, exc)
        found[kind][name] = props
        if create_table(dynamodb, name, props) if kind == "tables" else create_bucket(s3, name, props, service.region):
            created.append(name)
    if created:
        log.info("service %s: created %s", service.key, ", ".join(created))
    return found


def create_table(client: Any, name: str, props: dict[str, Any]) -> bool:
    """Create one DynamoDB table from AWS::DynamoDB::Table properties; False if it exists."""
    if any(name in page.get("TableNames", []) for page in client.get_paginator("list_tables").paginate()):
        return False
    billing = props.get("BillingMode", "PROVISIONED")
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        **({"BillingMode": billing} if billing == "PAY_PER_REQUEST" else {"ProvisionedThroughput": throughput}),
    }
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            request[key] = [
                {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection")}
                | (
                    {"ProvisionedThroughput": throughput}
                    if "ProvisionedThroughput" in request and key[0] == "G"
                    else {}
                )
                for index in props[key]
            ]
    stream = props.get("StreamSpecification") or {}
    if stream.get("StreamViewType"):
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    client.create_table(**request)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return True


def create_bucket(client: Any, name: str, props: dict[str, Any], region: str) -> bool:
    """Create one bucket with its lifecycle rules, default encryption and public access block; False if it
    exists. A setting the emulator lacks is a debug message: it must not stop the stack."""
    if name in {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}:
        return False
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    client.create_bucket(Bucket=name, **location)
    rules = [
        {
            "ID": rule.get("Id", "rule"),
            "Status": rule.get("Status", "Enabled"),
            "Filter": {"Prefix": rule.get("Prefix", "")},
            **{k: rule[k] for k in ("AbortIncompleteMultipartUpload",) if k in rule},
            **({"Expiration": {"Days": int(rule["ExpirationInDays"])}} if "ExpirationInDays" in rule else {}),
        }
        for rule in (props.get("LifecycleConfiguration") or {}).get("Rules", [])
    ]
    encryption = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or []
    settings = [
        ("put_bucket_lifecycle_configuration", {"LifecycleConfiguration": {"Rules": rules}} if rules else None),
        (
            "put_bucket_encryption",
            {
                "ServerSideEncryptionConfiguration": {
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]} for r in encryption
                    ]
                }
            }
            if encryption
            else None,
        ),
        ("put_public_access_block", {"PublicAccessBlockConfiguration": props.get("PublicAccessBlockConfiguration")}),
    ]
    for method, arguments in settings:
        if arguments and all(arguments.values()):
            try:
                getattr(client, method)(Bucket=name, **arguments)
            except Exception as exc:  # emulator gaps (NotImplemented, validation quirks)
                log.debug("bucket %s: %s not applied locally: %s", name, method, exc)
    return True
