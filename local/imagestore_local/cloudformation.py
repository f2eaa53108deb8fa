"""CloudFormation intrinsics evaluated locally, and the emulated resources created from them."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from imagestore_local.config_loader import ACCOUNT_ID, ServiceConfig, logical_function_id

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


def function_logical_id(function_key: str) -> str:
    """ObjectCreatedLambdaFunction for objectCreated."""
    return logical_function_id(function_key) + "LambdaFunction"


# --------------------------------------------------------------------------- resource creation


def create_resources(service: ServiceConfig, dynamodb: Any, s3: Any, events: Any | None) -> dict[str, list[str]]:
    """Create the tables, buckets and event buses of one service that do not exist yet."""
    intrinsics = Intrinsics(service)
    created: dict[str, list[str]] = {"tables": [], "buckets": [], "eventBuses": []}
    for logical_id, resource in service.resources.items():
        rtype = resource.get("Type")
        try:
            if rtype == "AWS::DynamoDB::Table":
                props = intrinsics.evaluate(resource.get("Properties") or {})
                props["TableName"] = intrinsics.physical_name(logical_id)
                if create_table(dynamodb, props):
                    created["tables"].append(props["TableName"])
            elif rtype == "AWS::S3::Bucket":
                props = _evaluate_lenient(intrinsics, resource.get("Properties") or {})
                props["BucketName"] = intrinsics.physical_name(logical_id)
                if create_bucket(s3, props, service.region):
                    created["buckets"].append(props["BucketName"])
            elif rtype == "AWS::Events::EventBus" and events is not None:
                name = intrinsics.physical_name(logical_id)
                if create_event_bus(events, name):
                    created["eventBuses"].append(name)
            elif rtype in ("AWS::DynamoDB::GlobalTable",):
                log.warning("%s %s is not emulated", rtype, logical_id)
        except Exception:
            log.exception("service %s: could not create %s (%s)", service.key, logical_id, rtype)
            raise
    return created


def _evaluate_lenient(intrinsics: Intrinsics, props: dict[str, Any]) -> dict[str, Any]:
    """Evaluate each property; a property that cannot be evaluated locally is dropped with a debug log."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        try:
            out[key] = intrinsics.evaluate(value)
        except (KeyError, ValueError) as exc:
            log.debug("property %s skipped locally: %s", key, exc)
    return out


def create_table(client: Any, props: dict[str, Any]) -> bool:
    """Create one DynamoDB table from AWS::DynamoDB::Table properties; False if it exists."""
    name = props["TableName"]
    if name in _all_tables(client):
        log.debug("table %s exists", name)
        return False
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
    }
    billing = props.get("BillingMode", "PROVISIONED")
    default_throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if billing == "PAY_PER_REQUEST":
        request["BillingMode"] = "PAY_PER_REQUEST"
    else:
        request["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput")) or default_throughput
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            indexes = []
            for index in props[key]:
                index = {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection")} | (
                    {"ProvisionedThroughput": _throughput(index.get("ProvisionedThroughput")) or default_throughput}
                    if billing != "PAY_PER_REQUEST" and key == "GlobalSecondaryIndexes"
                    else {}
                )
                indexes.append(index)
            request[key] = indexes
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    for unsupported in (
        "PointInTimeRecoverySpecification",
        "SSESpecification",
        "ContributorInsightsSpecification",
        "KinesisStreamSpecification",
        "Tags",
        "DeletionProtectionEnabled",
        "TableClass",
    ):
        if unsupported in props:
            log.debug("table %s: %s not applied locally", name, unsupported)
    client.create_table(**request)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        try:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        except client.exceptions.ClientError:
            log.debug("table %s: TTL not supported by the emulator", name, exc_info=True)
    log.info("created table %s", name)
    return True


def _throughput(value: Any) -> dict[str, int] | None:
    """ProvisionedThroughput with integer units."""
    if not value:
        return None
    return {
        "ReadCapacityUnits": int(value["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(value["WriteCapacityUnits"]),
    }


def _all_tables(client: Any) -> set[str]:
    """Every table name of the endpoint."""
    names: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        names.update(page.get("TableNames", []))
    return names


def create_bucket(client: Any, props: dict[str, Any], region: str) -> bool:
    """Create one bucket from AWS::S3::Bucket properties (CORS, lifecycle, encryption); False if it exists."""
    name = props["BucketName"]
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    if name in existing:
        log.debug("bucket %s exists", name)
        return False
    if region == "us-east-1":
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    _apply(
        name,
        "CORS",
        lambda: client.put_bucket_cors(
            Bucket=name,
            CORSConfiguration={"CORSRules": [_cors_rule(rule) for rule in props["CorsConfiguration"]["CorsRules"]]},
        ),
        "CorsConfiguration" in props,
    )
    if "LifecycleConfiguration" in props:
        rules = [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"].get("Rules", [])]
        _apply(
            name,
            "lifecycle",
            lambda: client.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules}),
            bool(rules),
        )
    if "BucketEncryption" in props:
        _apply(
            name,
            "encryption",
            lambda: client.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                        for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            ),
            True,
        )
    if "PublicAccessBlockConfiguration" in props:
        _apply(
            name,
            "public access block",
            lambda: client.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            ),
            True,
        )
    if "NotificationConfiguration" in props:
        log.debug("bucket %s: NotificationConfiguration handled by the local runner, not the emulator", name)
    log.info("created bucket %s", name)
    return True


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """Translate a CloudFormation lifecycle rule into the S3 API's shape."""
    out: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule.get("Status", "Enabled")}
    out["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpirationInDays" in rule:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])}
    return out


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation CorsRule in the S3 API's names (ExposedHeaders, MaxAge differ)."""
    renamed = {"ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds", "Id": "ID"}
    return {renamed.get(key, key): value for key, value in rule.items()}


def _apply(bucket: str, what: str, call: Any, wanted: bool) -> None:
    """Apply one bucket setting; the emulator lacking it is only a debug message."""
    if not wanted:
        return
    try:
        call()
    except Exception as exc:  # emulator gaps (NotImplemented, validation quirks) must not stop the stack
        log.debug("bucket %s: %s not applied locally: %s", bucket, what, exc, exc_info=True)


def create_event_bus(client: Any, name: str) -> bool:
    """Create an event bus in the emulator (remembered only; delivery is done by the local runner)."""
    try:
        client.create_event_bus(Name=name)
    except client.exceptions.ResourceAlreadyExistsException:
        return False
    return True
