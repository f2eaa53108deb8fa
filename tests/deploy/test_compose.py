"""serverless-compose.yml passes exactly the file service's outputs the other services need."""

from __future__ import annotations

import re

import pytest
import yaml

from deploy.compose_state import file_service_outputs
from tests.deploy.templates import REGION, ROOT, STAGE, Template

PARAMS = {
    "tableName": "TableName",
    "tableArn": "TableArn",
    "tableStreamArn": "TableStreamArn",
    "bucketName": "BucketName",
    "bucketArn": "BucketArn",
    "layerArn": "ImagestoreLambdaLayerQualifiedArn",
    "authorizerArn": "AuthorizerLambdaFunctionQualifiedArn",
    "corsOrigins": "CorsOrigins",
    "tenantCacheSeconds": "TenantCacheSeconds",
    "unknownTenants": "UnknownTenants",
}


def compose() -> dict:
    return yaml.safe_load((ROOT / "serverless-compose.yml").read_text())


@pytest.mark.parametrize("consumer", ["project", "scheduler"])
def test_consumers_receive_the_file_services_outputs(templates: dict[str, Template], consumer: str) -> None:
    params = compose()["services"][consumer]["params"]
    assert params == {name: f"${{file.{output}}}" for name, output in PARAMS.items()}
    assert set(PARAMS.values()) <= set(templates["file"].body["Outputs"])


def test_the_file_service_takes_no_params_from_others() -> None:
    assert "params" not in compose()["services"]["file"]


def test_the_seeded_state_has_every_output_the_consumers_read() -> None:
    assert set(file_service_outputs(STAGE, REGION)) == set(PARAMS.values())


def test_compose_names_no_account_and_no_region() -> None:
    text = yaml.safe_dump(compose())  # the configuration, without its comments
    assert not re.search(r"\b\d{12}\b", text)
    assert REGION not in text


@pytest.mark.parametrize("consumer", ["project", "scheduler"])
def test_deployed_alone_each_param_falls_back_to_the_file_stacks_output(consumer: str) -> None:
    """`serverless deploy` of one service without --param: every file-service param it uses reads
    the stage's file stack output, and only when the param is missing (compose still passes them)."""
    text = (ROOT / "services" / consumer / "serverless.yml").read_text()
    uses = re.findall(r"\$\{param:(\w+)((?:, cf:imagestore-file-\$\{sls:stage\}\.\w+)?)", text)
    used = {name for name, _ in uses if name in PARAMS}
    assert {"tableName", "tableArn", "bucketName", "bucketArn", "layerArn"} <= used
    for name, rest in uses:
        if name in PARAMS:
            assert rest == f", cf:imagestore-file-${{sls:stage}}.{PARAMS[name]}", f"${{param:{name}{rest}}}"
