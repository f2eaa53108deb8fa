"""Powertools' re-export packages load name by name, and every name is still there."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from imagestore.lazy_imports import reexport_lazily, reexports

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = ":".join(str(ROOT / p) for p in ("layer", "services/file", "services/project", "services/scheduler"))


def _fresh_interpreter(code: str) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": PYTHONPATH,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "unit",
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "handler",
    [
        "project_service.handlers.projects",
        "file_service.handlers.files",
        "file_service.handlers.uploads",
        "project_service.handlers.orders",
    ],
)
def test_an_api_handler_loads_one_resolver_and_one_event_class(handler: str) -> None:
    loaded = _fresh_interpreter(
        f"import sys, json\nimport {handler}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('aws_lambda_powertools.event_handler.')"
        " or m.startswith('aws_lambda_powertools.utilities.data_classes.') or m == 'asyncio')))"
    )
    assert "aws_lambda_powertools.event_handler.api_gateway" in loaded
    assert "aws_lambda_powertools.utilities.data_classes.api_gateway_proxy_event" in loaded
    for unused in (
        "aws_lambda_powertools.event_handler.appsync",
        "aws_lambda_powertools.event_handler.bedrock_agent",
        "aws_lambda_powertools.utilities.data_classes.kafka_event",
        "asyncio",
    ):
        assert unused not in loaded


def test_every_name_of_the_packages_is_still_there() -> None:
    found = _fresh_interpreter(
        "import json, importlib\nimport imagestore\n"
        "from imagestore.lazy_imports import POWERTOOLS_REEXPORTS\n"
        "result = {}\n"
        "for name in POWERTOOLS_REEXPORTS:\n"
        "    package = importlib.import_module(name)\n"
        "    result[name] = {n: getattr(package, n).__module__ for n in package.__all__}\n"
        "from aws_lambda_powertools.event_handler import AppSyncResolver, APIGatewayRestResolver, content_types\n"
        "result['content_types'] = content_types.APPLICATION_JSON\n"
        "print(json.dumps(result))"
    )
    handlers = found["aws_lambda_powertools.event_handler"]
    assert handlers["APIGatewayRestResolver"] == "aws_lambda_powertools.event_handler.api_gateway"
    assert handlers["AppSyncResolver"] == "aws_lambda_powertools.event_handler.appsync"
    assert found["aws_lambda_powertools.utilities.data_classes"]["S3Event"].endswith("s3_event")
    assert found["content_types"] == "application/json"


def test_the_names_match_what_the_package_itself_exports() -> None:
    import importlib.util

    for package in ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes"):
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text())
        names = reexports(package, tree)
        assert names is not None, f"{package}'s __init__ is no longer only re-exports"
        declared = next(
            ast.literal_eval(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__"
        )
        assert set(declared) <= set(names)


@pytest.mark.parametrize(
    "init",
    ["x = 1\n", "from os import path\n", "from .a import *\n", "import json\n", "if True:\n    from .a import b\n"],
)
def test_a_package_that_does_more_than_re_export_is_imported_as_usual(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, init: str
) -> None:
    package = tmp_path / "reexporting_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(init)
    (package / "a.py").write_text("b = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "reexporting_pkg", raising=False)
    assert reexport_lazily("reexporting_pkg") is False
    assert "reexporting_pkg" not in sys.modules


def test_a_re_export_package_gets_its_names_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "lazy_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        '"""doc"""\nfrom .a import b\nfrom lazy_pkg.c import d as e\n__all__ = ["b", "e"]\n'
    )
    (package / "a.py").write_text("b = 2\n")
    (package / "c.py").write_text("d = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("lazy_pkg", "lazy_pkg.a", "lazy_pkg.c"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert reexport_lazily("lazy_pkg") is True
    assert "lazy_pkg.a" not in sys.modules and "lazy_pkg.c" not in sys.modules
    from lazy_pkg import e  # type: ignore[import-not-found]

    assert e == 3 and "lazy_pkg.c" in sys.modules and "lazy_pkg.a" not in sys.modules
    import lazy_pkg  # type: ignore[import-not-found]

    assert lazy_pkg.b == 2 and lazy_pkg.__all__ == ["b", "e"]
    with pytest.raises(AttributeError):
        _ = lazy_pkg.missing
    assert reexport_lazily("lazy_pkg") is False, "already imported"
