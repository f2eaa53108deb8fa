"""`serverless package` of each service on its own, with no --param, offline as `make package` does
(fake credentials, every AWS endpoint on a local moto server): project and scheduler read the file
service's outputs from the stage's file stack (`${param:x, cf:imagestore-file-<stage>.Output}`),
here a stack created in moto with the outputs a deployed file stack has."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from deploy.compose_state import file_service_outputs
from tests.deploy.templates import REGION, ROOT, STAGE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (shutil.which("node") and (ROOT / "node_modules" / ".bin" / "osls").exists()):
        pytest.skip("node and node_modules (npm ci) are needed to package a service")
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def offline_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ENDPOINT_URL_CLOUDFORMATION=endpoint,
        SLS_TELEMETRY_DISABLED="1",
        SLS_NOTIFICATIONS_MODE="off",
        SLS_DISABLE_AUTO_UPDATE="1",
    )
    return env


def create_file_stack(endpoint: str, outputs: dict[str, str]) -> None:
    """A stack named like the stage's file stack, with the outputs the other services read."""
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    client = boto3.client(
        "cloudformation",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_stack(StackName=f"imagestore-file-{STAGE}", TemplateBody=json.dumps(template))


def scratch_tree(service: str, out: Path) -> Path:
    """A copy of services/<service> in a tree beside `out` whose deploy/, build/ and node_modules/ are the
    repository's. Packaging starts by deleting the service directory's .serverless/ (osls's
    aws:common:cleanupTempDir, even with --package): in the repository itself that would remove the
    templates and artifacts that the other deployment tests read meanwhile."""
    tree = out.parent / f"{out.name}-tree"
    for shared in ("deploy", "build", "node_modules"):
        (tree / shared).parent.mkdir(parents=True, exist_ok=True)
        (tree / shared).symlink_to(ROOT / shared, target_is_directory=True)
    shutil.copytree(
        ROOT / "services" / service,
        tree / "services" / service,
        ignore=shutil.ignore_patterns(".serverless", "__pycache__"),
    )
    return tree / "services" / service


def package(service: str, endpoint: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`npx osls package` of services/<service> (a copy: scratch_tree), no --param, artifacts into `out`."""
    return subprocess.run(
        ["npx", "--no-install", "osls", "package", "--stage", STAGE, "--region", REGION, "--package", str(out)],
        cwd=scratch_tree(service, out),
        env=offline_env(endpoint),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def template(out: Path) -> dict[str, Any]:
    return json.loads((out / "cloudformation-template-update-stack.json").read_text())  # type: ignore[no-any-return]


def test_a_consumer_without_a_file_stack_names_what_it_cannot_resolve(moto_endpoint: str, tmp_path: Path) -> None:
    result = package("scheduler", moto_endpoint, tmp_path)
    assert result.returncode != 0
    assert 'provider.environment.IMAGESTORE_TABLE_NAME": Value not found at "cf" source' in result.stdout


@pytest.mark.parametrize("service", ["project", "scheduler"])
def test_a_consumer_packages_alone_from_the_file_stacks_outputs(
    moto_endpoint: str, tmp_path: Path, service: str
) -> None:
    outputs = {
        **file_service_outputs(STAGE, REGION),
        # Values no default could produce: the template must carry what the stack says.
        "TableName": "imagestore-dev-from-stack",
        "ImagestoreLambdaLayerQualifiedArn": f"arn:aws:lambda:{REGION}:123456789012:layer:imagestore:42",
        "CorsOrigins": "https://shop.example",
    }
    try:
        create_file_stack(moto_endpoint, outputs)
    except Exception as exc:  # the stack of the other parametrization
        assert "AlreadyExists" in str(exc)
    result = package(service, moto_endpoint, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    body = template(tmp_path)
    functions = [r["Properties"] for r in body["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert functions
    for function in functions:
        variables = function["Environment"]["Variables"]
        assert variables["IMAGESTORE_TABLE_NAME"] == "imagestore-dev-from-stack"
        assert variables["IMAGESTORE_BUCKET_NAME"] == outputs["BucketName"]
        assert function["Layers"] == [outputs["ImagestoreLambdaLayerQualifiedArn"]]
    if service == "project":
        (authorizer,) = [r for r in body["Resources"].values() if r["Type"] == "AWS::ApiGateway::Authorizer"]
        assert outputs["AuthorizerLambdaFunctionQualifiedArn"] in json.dumps(authorizer)
        assert {v["IMAGESTORE_CORS_ORIGINS"] for v in (f["Environment"]["Variables"] for f in functions)} == {
            "https://shop.example"
        }


def test_the_file_service_packages_alone(moto_endpoint: str, tmp_path: Path, packaged: None) -> None:
    """The file service needs no other stack (the layer is built by the `packaged` fixture)."""
    result = package("file", moto_endpoint, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    body = template(tmp_path)
    assert "TableName" in body["Outputs"] and "CorsOrigins" in body["Outputs"]
