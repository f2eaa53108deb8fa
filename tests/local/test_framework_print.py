"""The framework's own variable resolution (osls print), the local stack's only one: every service at every
stage, AWS-only variables fail loudly, the cache."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from imagestore_local import framework_print
from imagestore_local.config_loader import Project
from imagestore_local.framework_print import FrameworkError, FrameworkPrint

ROOT = Path(__file__).resolve().parents[2]
OSLS = ROOT / "node_modules" / ".bin" / "osls"

needs_osls = pytest.mark.skipif(not OSLS.exists(), reason="npm ci installs osls")  # make test runs npm ci first


@needs_osls
def test_every_service_resolves_at_every_stage_with_the_values_the_stack_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    for stage in ("local", "dev", "prod"):
        services = {service.key: service for service in Project(ROOT, stage=stage).services()}

        assert set(services) == {"file", "project", "scheduler"}
        for service in services.values():
            assert (service.stage, service.region) == (stage, "eu-west-1")
            # Nothing left unresolved (Fn::Sub's ${AWS::Region} and ${Resource} are CloudFormation's, not variables).
            assert not re.search(r"\$\{(self|opt|sls|env|param|file|cf|ssm|aws):", json.dumps(service.config))
            assert all(fn.name.startswith(f"imagestore-{service.key}-{stage}-") for fn in service.functions.values())
        table = services["file"].provider["environment"]["IMAGESTORE_TABLE_NAME"]
        assert table == {"Ref": "Table"}  # an intrinsic: evaluated by the stack (cloudformation.py)
        # The compose params: the project service gets the file service's table, as osls-compose passes it.
        assert services["project"].provider["environment"]["IMAGESTORE_TABLE_NAME"] == f"imagestore-{stage}"
        assert services["file"].provider["environment"]["IMAGESTORE_STAGE"] == stage


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


def test_without_osls_nothing_resolves_a_serverless_yml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framework_print, "REPO", tmp_path)  # neither the stub repository nor this one has osls

    with pytest.raises(FrameworkError, match="npm ci"):
        FrameworkPrint.for_root(tmp_path)
    with pytest.raises(FrameworkError, match="npm ci"):
        Project(tmp_path)


def test_a_repository_without_node_modules_uses_this_ones_osls_and_cache(tmp_path: Path) -> None:
    framework = FrameworkPrint.for_root(tmp_path)

    assert framework.osls == OSLS
    assert framework.cache_dir == ROOT / ".local-data" / "config-cache"


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
