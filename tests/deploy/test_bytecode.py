"""The layer and the service packages ship CPython 3.12 bytecode (unchecked-hash): on Lambda /opt and
/var/task are read-only, so without it every cold start compiles boto3, botocore, pydantic,
Powertools and the handlers from source (deploy/bytecode.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.deploy.templates import ROOT, SERVICES, Template

LAYER_ZIP = ROOT / "services" / "file" / ".serverless" / "imagestore.zip"
# importlib.util.MAGIC_NUMBER of every CPython 3.12.x (3531, frozen for the 3.12 branch).
MAGIC_312 = (3531).to_bytes(2, "little") + b"\r\n"
# PEP 552 flags (bytes 4-8 of the header): bit 0 hash-based, bit 1 check_source; unchecked-hash is 0b01.
UNCHECKED_HASH = 1
LAYER_MODULES = ("boto3/__init__", "botocore/client", "pydantic/main", "imagestore/config")


def find_python312() -> str | None:
    """The interpreter deploy/bytecode.sh compiles with (the same lookup), or None."""
    result = subprocess.run(
        [str(ROOT / "deploy" / "bytecode.sh"), "which"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


@pytest.fixture(scope="session")
def python312() -> str:
    """Without a Python 3.12 the packages hold no bytecode: skip on a developer's machine, fail in CI."""
    found = find_python312()
    if found is None:
        reason = "no Python 3.12 to compile the packages' bytecode (LAMBDA_PYTHON, python3.12 or pyenv)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def pyc_of(source: str) -> str:
    """The 3.12 bytecode's name in an archive for a source path ('a/b/c.py' -> 'a/b/__pycache__/c.cpython-312.pyc')."""
    folder, _, name = source.rpartition("/")
    return f"{folder}/__pycache__/{name.removesuffix('.py')}.cpython-312.pyc"


def service_zip(service: str) -> Path:
    return ROOT / "services" / service / ".serverless" / f"imagestore-{service}.zip"


def handler_modules(template: Template) -> set[str]:
    """'file_service/handlers/uploads.handler' -> 'file_service/handlers/uploads.py'."""
    return {f["Properties"]["Handler"].rsplit(".", 1)[0] + ".py" for f in template.functions().values()}


def assert_unchecked_312(archive: zipfile.ZipFile, names: list[str]) -> None:
    wrong = {}
    for name in names:
        header = archive.open(name).read(16)
        if header[:4] != MAGIC_312 or int.from_bytes(header[4:8], "little") != UNCHECKED_HASH:
            wrong[name] = header[:8].hex()
    assert not wrong, f"not CPython 3.12 unchecked-hash bytecode (magic, flags): {wrong}"


def compiled_as(python312: str, archive: Path, pycs: list[str]) -> dict[str, tuple[str, bool]]:
    """Per pyc in the archive: the file name its code names (what tracebacks show) and whether its
    hash is the hash of the source beside it, read by Python 3.12 itself."""
    script = r"""
import importlib.util, json, marshal, sys, zipfile
out = {}
with zipfile.ZipFile(sys.argv[1]) as archive:
    for pyc in sys.argv[2:]:
        data = archive.read(pyc)
        folder = pyc.rsplit("/__pycache__/", 1)[0]
        source = archive.read(folder + "/" + pyc.rsplit("/", 1)[1].split(".")[0] + ".py")
        out[pyc] = (marshal.loads(data[16:]).co_filename, data[8:16] == importlib.util.source_hash(source))
print(json.dumps(out))
"""
    result = subprocess.run(
        [python312, "-I", "-c", script, str(archive), *pycs], capture_output=True, text=True, check=True
    )
    return {name: (filename, fresh) for name, (filename, fresh) in json.loads(result.stdout).items()}


def test_the_layer_holds_unchecked_312_bytecode_of_its_dependencies_and_imagestore(
    packaged: None, python312: str
) -> None:
    with zipfile.ZipFile(LAYER_ZIP) as layer:
        names = set(layer.namelist())
        expected = [pyc_of(f"python/{module}.py") for module in LAYER_MODULES]
        assert not [p for p in expected if p not in names], "missing bytecode"
        assert_unchecked_312(layer, expected)
    assert compiled_as(python312, LAYER_ZIP, expected) == {
        pyc_of(f"python/{module}.py"): (f"/opt/python/{module}.py", True) for module in LAYER_MODULES
    }


def test_every_module_of_the_layer_has_its_312_bytecode_and_nothing_else(packaged: None, python312: str) -> None:
    with zipfile.ZipFile(LAYER_ZIP) as layer:
        names = set(layer.namelist())
        pycs = sorted(n for n in names if n.endswith(".pyc"))
        assert not [n for n in pycs if not n.endswith(".cpython-312.pyc")]
        assert not [s for s in names if s.endswith(".py") and pyc_of(s) not in names]
        assert_unchecked_312(layer, pycs)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_ships_312_bytecode_of_its_handlers_and_no_local_bytecode(
    service: str, templates: dict[str, Template], python312: str
) -> None:
    handlers = handler_modules(templates[service])
    assert handlers
    with zipfile.ZipFile(service_zip(service)) as archive:
        names = set(archive.namelist())
        pycs = sorted(n for n in names if n.endswith(".pyc"))
        assert handlers <= names
        expected = sorted(pyc_of(h) for h in handlers)
        assert not [p for p in expected if p not in names], "missing bytecode"
        assert not [n for n in pycs if not n.endswith(".cpython-312.pyc")], "the local interpreter's bytecode"
        assert not [s for s in names if s.endswith(".py") and pyc_of(s) not in names]
        assert_unchecked_312(archive, pycs)
    assert compiled_as(python312, service_zip(service), expected) == {
        pyc_of(h): (f"/var/task/{h}", True) for h in handlers
    }


def test_python_312_imports_boto3_from_the_layers_bytecode(packaged: None, python312: str, tmp_path: Path) -> None:
    """As on Lambda: nothing written (-B), each pure-Python module loaded from its pyc, not compiled."""
    packages = (
        "boto3/",
        "botocore/",
        "s3transfer/",
        "jmespath/",
        "dateutil/",
        "urllib3/",
        "six.py",
        "__pycache__/six.",
    )
    with zipfile.ZipFile(LAYER_ZIP) as layer:
        layer.extractall(tmp_path, [n for n in layer.namelist() if n.removeprefix("python/").startswith(packages)])
    result = subprocess.run(
        [
            python312,
            "-B",
            "-I",
            "-v",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path / 'python')!r}); import boto3, botocore.client",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = [line for line in result.stderr.splitlines() if line.startswith("# code object from ")]
    layer_code = [line for line in loaded if str(tmp_path) in line]
    assert any(line.endswith("/botocore/__pycache__/client.cpython-312.pyc'") for line in layer_code), loaded
    compiled_from_source = [line for line in layer_code if not line.endswith(".cpython-312.pyc'")]
    assert not compiled_from_source
