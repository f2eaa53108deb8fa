"""The serverless.yml variable resolver, compose params and CloudFormation intrinsics."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagestore_local.cloudformation import Intrinsics, environment_of
from imagestore_local.config_loader import Project, VariableError, VariableResolver, load_yaml
from tests.local.conftest import StubRepo


def resolver(**sources: dict[str, object]) -> VariableResolver:
    def source(values: dict[str, object]):  # type: ignore[no-untyped-def]
        def lookup(address: str) -> object:
            return values[address]

        return lookup

    return VariableResolver(sources={name: source(values) for name, values in sources.items()}, strict=True)


def test_defaults_and_nesting() -> None:
    r = resolver(opt={}, env={"Y": "from-env"}, param={}, sls={"stage": "local"})
    assert r.resolve("${opt:stage, 'dev'}") == "dev"
    assert r.resolve('${opt:stage, "dev"}') == "dev"
    assert r.resolve("${param:x, ${env:Y}}") == "from-env"
    assert r.resolve("${param:x, ${env:Z, 'last'}}") == "last"
    assert r.resolve("a-${sls:stage}-b-${opt:region, 'eu-west-1'}") == "a-local-b-eu-west-1"
    assert r.resolve("${opt:count, 3}") == 3


def test_whole_string_variable_keeps_its_type() -> None:
    r = resolver(self={"custom.list": [1, 2], "custom.flag": True})
    assert r.resolve("${self:custom.list}") == [1, 2]
    assert r.resolve("x${self:custom.flag}") == "xtrue"


def test_cloudformation_placeholders_are_left_alone() -> None:
    r = resolver(sls={"stage": "local"})
    assert r.resolve("arn:${AWS::Region}:${Table}:${sls:stage}") == "arn:${AWS::Region}:${Table}:local"


def test_unresolvable_without_default_raises_in_strict_mode() -> None:
    with pytest.raises(VariableError):
        resolver(env={}).resolve("${env:NOPE}")


def test_lenient_mode_gives_null() -> None:
    assert VariableResolver(sources={"env": lambda a: (_ for _ in ()).throw(KeyError(a))}).resolve("${env:X}") is None


def test_short_form_tags(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text("a: !Ref Table\nb: !GetAtt Table.Arn\nc: !Sub 'x-${AWS::Region}'\nd: !Join ['-', [a, b]]\n")
    data = load_yaml(path)
    assert data == {
        "a": {"Ref": "Table"},
        "b": {"Fn::GetAtt": ["Table", "Arn"]},
        "c": {"Fn::Sub": "x-${AWS::Region}"},
        "d": {"Fn::Join": ["-", ["a", "b"]]},
    }


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
    assert project.service("consumer").provider["environment"]["CONSUMER_TABLE"] is None


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


def test_file_variables_read_yaml_and_run_javascript_as_serverless_does(tmp_path: Path) -> None:
    from imagestore_local.config_loader import file_variable

    (tmp_path / "limits.yml").write_text("default: {plan: {rate: 5}}\nlocal: {plan: {rate: 7}}\n")
    assert file_variable(tmp_path / "limits.yml", "local.plan.rate", "local", "svc") == 7
    (tmp_path / "gen.js").write_text(
        "module.exports = async ({ resolveVariable }) => ({ name: `${await resolveVariable('self:service')}-"
        "${await resolveVariable('sls:stage')}`, list: [1, 2] });\n"
    )
    assert file_variable(tmp_path / "gen.js", "name", "prod", "imagestore-file") == "imagestore-file-prod"
    assert file_variable(tmp_path / "gen.js", "list", "prod", "imagestore-file") == [1, 2]
    with pytest.raises(KeyError):
        file_variable(tmp_path / "gen.js", "missing", "prod", "imagestore-file")
