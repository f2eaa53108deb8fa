"""The framework's own variable resolution (osls print) for the local stack: the same answers as the
built-in resolver for every service and stage, AWS-only variables fail loudly, the cache."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from imagestore_local import framework_print
from imagestore_local.config_loader import Project, VariableError, VariableResolver
from imagestore_local.framework_print import FrameworkError, FrameworkPrint

ROOT = Path(__file__).resolve().parents[2]
OSLS = ROOT / "node_modules" / ".bin" / "osls"

needs_osls = pytest.mark.skipif(not OSLS.exists(), reason="npm ci installs osls")  # make test runs npm ci first


def _what_the_stack_uses(project: Project) -> dict[str, Any]:
    """Per service: provider environment and region, resources, outputs, and per function its handler,
    events, environment, timeout and memory."""
    out: dict[str, Any] = {}
    for service in project.services():
        out[service.key] = {
            "region": service.region,
            "stage": service.stage,
            "environment": service.provider.get("environment"),
            "resources": service.resources,
            "outputs": service.outputs,
            "functions": {
                fn.key: {
                    "name": fn.name,
                    "handler": fn.handler,
                    "events": [_normalized_event(e) for e in fn.events],
                    "environment": fn.environment,
                    "timeout": fn.timeout,
                    "memory": fn.memory_size,
                }
                for fn in service.functions.values()
            },
        }
    return out


def _normalized_event(event: Any) -> Any:
    """The framework normalizes `schedule: {rate: x}` to `rate: [x]`; both mean the same."""
    if isinstance(event, dict) and isinstance(event.get("schedule"), dict):
        rate = event["schedule"].get("rate")
        return {"schedule": {**event["schedule"], "rate": rate if isinstance(rate, list) else [rate]}}
    return event


def _resolved(stage: str, resolver: str) -> dict[str, Any]:
    # The resolver is named, not set in the environment: this runs on three threads at once, and an
    # environment variable set and restored by each of them could outlive the test (issue 29).
    project = Project(ROOT, stage=stage, resolver=resolver)
    assert (project.framework is not None) == (resolver == "osls")
    return _what_the_stack_uses(project)


@needs_osls
def test_osls_print_and_the_builtin_resolver_agree_for_every_service_and_stage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    resolver_setting = os.environ.get("IMAGESTORE_LOCAL_RESOLVER")
    stages = ("local", "dev", "prod")
    with ThreadPoolExecutor(max_workers=len(stages)) as pool:
        framework = dict(zip(stages, pool.map(lambda s: _resolved(s, "osls"), stages), strict=True))

    for stage in stages:
        builtin = _resolved(stage, "builtin")
        assert set(framework[stage]) == {"file", "project", "scheduler"}
        for key in framework[stage]:
            assert framework[stage][key] == builtin[key], f"{key} ({stage}) differs"
    assert framework["prod"]["file"]["environment"]["IMAGESTORE_STAGE"] == "prod"
    assert framework["local"]["project"]["environment"]["IMAGESTORE_TABLE_NAME"] == "imagestore-local"
    assert os.environ.get("IMAGESTORE_LOCAL_RESOLVER") == resolver_setting  # nothing leaks into later tests


@needs_osls
def test_a_cf_fallback_without_its_param_fails_loudly(tmp_path: Path) -> None:
    service = tmp_path / "svc"
    service.mkdir()
    (service / "serverless.yml").write_text(
        "service: svc\nprovider:\n  name: aws\n  environment:\n"
        "    TABLE: ${param:tableName, cf:imagestore-file-${sls:stage}.TableName}\n"
    )
    framework = FrameworkPrint(OSLS, tmp_path / "cache")

    with pytest.raises(FrameworkError, match=r"provider\.environment\.TABLE"):
        framework.resolve(service, "local", None, {})
    given = framework.resolve(service, "local", None, {"tableName": "t-local"})

    assert given["provider"]["environment"]["TABLE"] == "t-local"  # the fallback is not looked up


def test_the_builtin_resolver_fails_loudly_on_aws_only_variables() -> None:
    resolver = VariableResolver(sources={"param": lambda a: (_ for _ in ()).throw(KeyError(a))})

    with pytest.raises(VariableError, match=r"cf:stack\.Output"):
        resolver.resolve("${param:x, cf:stack.Output}")
    with pytest.raises(VariableError, match="ssm:/a/b"):
        resolver.resolve({"a": ["${ssm:/a/b}"]})
    assert resolver.resolve("${param:x, 'fallback'}") == "fallback"


@needs_osls
def test_the_cache_answers_until_the_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = tmp_path / "svc"
    service.mkdir()
    yml = service / "serverless.yml"
    yml.write_text("service: svc\nprovider:\n  name: aws\ncustom:\n  stage: ${sls:stage}-one\n")
    framework = FrameworkPrint(OSLS, tmp_path / "cache")
    assert framework.resolve(service, "dev", None, {})["custom"]["stage"] == "dev-one"
    runs: list[Any] = []
    real_run = framework_print.subprocess.run

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(args)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(framework_print.subprocess, "run", counted)

    assert framework.resolve(service, "dev", None, {})["custom"]["stage"] == "dev-one"
    assert runs == []  # answered from the cache
    yml.write_text("service: svc\nprovider:\n  name: aws\ncustom:\n  stage: ${sls:stage}-two\n")
    assert framework.resolve(service, "dev", None, {})["custom"]["stage"] == "dev-two"
    assert len(runs) == 1  # the file changed: osls ran again
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in (tmp_path / "cache").glob("*.json"))


def test_without_osls_the_builtin_resolver_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGESTORE_LOCAL_RESOLVER", raising=False)
    assert FrameworkPrint.for_root(tmp_path) is None
    monkeypatch.setenv("IMAGESTORE_LOCAL_RESOLVER", "osls")
    with pytest.raises(FrameworkError, match="npm ci"):
        FrameworkPrint.for_root(tmp_path)
    assert os.environ["IMAGESTORE_LOCAL_RESOLVER"] == "osls"


def test_the_cache_keeps_the_latest_answers_of_a_service(tmp_path: Path) -> None:
    cache = tmp_path / "config-cache"
    cache.mkdir()
    for n in range(12):
        old = cache / f"svc-dev-{n:024x}.json"
        old.write_text("{}")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    other = cache / "other-dev-0.json"
    other.write_text("{}")

    FrameworkPrint(OSLS, cache)._store(cache / "svc-dev-new.json", '{"service": "svc"}')

    kept = sorted(p.name for p in cache.glob("svc-dev-*.json"))
    assert len(kept) == 8 and "svc-dev-new.json" in kept
    assert f"svc-dev-{11:024x}.json" in kept and f"svc-dev-{0:024x}.json" not in kept
    assert other.exists()
