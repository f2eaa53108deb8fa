"""The deployment's own resource definitions, used to build the moto table and bucket in tests."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


# libyaml's loader when PyYAML has it: file/serverless.yml takes a second to parse in pure Python.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[misc]
    """YAML loader that keeps CloudFormation short-form tags (!Ref, !GetAtt, ...) as plain dicts."""


def _intrinsic(loader: Any, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


def service_definition(service: str) -> dict[str, Any]:
    """services/<service>/serverless.yml as a dict (parsed once per process; each caller gets its own copy)."""
    return copy.deepcopy(_parsed(service, (ROOT / "services" / service / "serverless.yml").stat().st_mtime_ns))


@cache
def _parsed(service: str, mtime_ns: int) -> dict[str, Any]:
    with (ROOT / "services" / service / "serverless.yml").open() as handle:
        return yaml.load(handle, Loader=_Loader)  # type: ignore[no-any-return]


def resources_of_type(service: str, resource_type: str) -> dict[str, dict[str, Any]]:
    resources = service_definition(service).get("resources", {}).get("Resources", {})
    return {name: r for name, r in resources.items() if r["Type"] == resource_type}


def create_table(client: Any, name: str) -> None:
    """Create the table as services/file/serverless.yml defines it, under `name`."""
    ((_, table),) = resources_of_type("file", "AWS::DynamoDB::Table").items()
    props = table["Properties"]
    client.create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": props["StreamSpecification"]["StreamViewType"]},
    )
    ttl = props["TimeToLiveSpecification"]
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]}
    )


def create_bucket(client: Any, name: str, region: str) -> None:
    """Create the image bucket with the CORS and lifecycle rules the deployment gives it."""
    ((_, bucket),) = resources_of_type("file", "AWS::S3::Bucket").items()
    props = bucket["Properties"]
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    renamed = {"ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}  # CloudFormation -> S3 API names
    rules = [
        {renamed.get(k, k): _origins(v) if k == "AllowedOrigins" else v for k, v in rule.items()}
        for rule in props["CorsConfiguration"]["CorsRules"]
    ]
    client.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})


def _origins(value: Any) -> list[str]:
    """AllowedOrigins: a list, or `!Split [",", "${param:corsOrigins}"]` with the param's default."""
    if isinstance(value, list):
        return value
    separator, text = value["Fn::Split"]
    default = service_definition("file")["params"]["default"]["corsOrigins"]
    return str(text).replace("${param:corsOrigins}", default).split(separator)
