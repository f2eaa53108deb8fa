"""Services resolved by osls print (the only resolver), compose params from other services' outputs, and
CloudFormation intrinsics."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagestore_local.cloudformation import Intrinsics, environment_of
from imagestore_local.config_loader import Project
from imagestore_local.framework_print import FrameworkError
from tests.local.conftest import StubRepo


def test_service_resolution(stub_repo: StubRepo, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_LEVEL_FALLBACK", "DEBUG")
    project = Project(stub_repo.root, stage="local")
    service = project.service("stub")
    assert service.stage == "local" and service.region == "eu-west-1"
    assert service.provider["stage"] == "local"
    assert service.config["custom"]["nested"]["value"] == "stub-local-nested"
    assert service.functions["echo"].name == "stub-local-echo"
    assert service.functions["echo"].timeout == 7
    env = environment_of(service)
    assert env["STUB_TABLE"] == "stub-local-table"
    assert env["STUB_STAGE"] == "local"
    assert env["STUB_SUB"] == "stub-local-stub-local-table-eu-west-1"
    assert env["STUB_LEVEL"] == "DEBUG"
    fn_env = environment_of(service, service.functions["echo"].environment)
    assert fn_env["ECHO_ARN"] == "arn:aws:dynamodb:eu-west-1:123456789012:table/stub-local-table"


def test_compose_params_resolve_other_services_outputs(stub_repo: StubRepo, clean_env: None) -> None:
    project = Project(stub_repo.root, stage="local")
    assert project.service_keys() == ["stub", "consumer"]
    consumer = project.service("consumer")
    assert consumer.provider["environment"]["CONSUMER_TABLE"] == "stub-local-table"
    outputs = project.outputs("stub")
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:stub-local-auth"
    assert outputs["AuthLambdaFunctionQualifiedArn"] == arn
    assert outputs["TableArn"].endswith(":table/stub-local-table")
    fn = project.function_by_arn(arn)
    assert fn is not None and (fn.service.key, fn.key) == ("stub", "auth")


def test_missing_compose_uses_every_service(stub_repo: StubRepo, clean_env: None) -> None:
    (stub_repo.root / "serverless-compose.yml").unlink()
    project = Project(stub_repo.root, stage="local")
    assert project.service_keys() == ["consumer", "stub"]
    assert project.service("stub").functions["echo"].name == "stub-local-echo"
    # Nothing gives the consumer its params now: osls print fails, naming them (never a null).
    with pytest.raises(FrameworkError, match=r"provider\.environment\.CONSUMER_TABLE"):
        project.service("consumer")


def test_intrinsics_sub_with_variables(stub_repo: StubRepo, clean_env: None) -> None:
    intrinsics = Intrinsics(Project(stub_repo.root).service("stub"))
    assert intrinsics.evaluate({"Fn::Sub": ["${A}-${AWS::AccountId}", {"A": {"Ref": "Table"}}]}) == (
        "stub-local-table-123456789012"
    )
    assert intrinsics.evaluate({"Fn::GetAtt": ["EchoLambdaFunction", "Arn"]}).endswith(":function:stub-local-echo")


def test_real_file_service_resolves(clean_env: None) -> None:
    root = Path(__file__).resolve().parents[2]
    project = Project(root, stage="local")
    service = project.service("file")
    env = environment_of(service)
    assert env["IMAGESTORE_TABLE_NAME"] == "imagestore-local"
    assert env["IMAGESTORE_BUCKET_NAME"] == "imagestore-local-images-eu-west-1"
    assert project.outputs("file")["AuthorizerLambdaFunctionQualifiedArn"].endswith(
        ":function:imagestore-file-local-authorizer"
    )


def test_the_local_stack_starts_the_sweeps_fan_out_once_a_period(clean_env: None) -> None:
    from imagestore_local.scheduler import schedules_of

    root = Path(__file__).resolve().parents[2]
    schedules = schedules_of(Project(root, stage="local").service("scheduler").functions["sweep"])
    # One rule a period; its run invokes one sweep per group of expiry shards (32 groups of one shard).
    assert [(s.period, s.input["detail"]) for s in schedules] == [
        (900, {"fanOut": True, "groups": 32, "periodSeconds": 900})
    ]
