"""The layer is built for the Lambda runtime (python3.12, arm64); artifact sizes are reported."""

from __future__ import annotations

import struct
import zipfile

from deploy.artifacts import artifact_sizes, format_report
from tests.deploy.templates import ROOT

LAYER_ZIP = ROOT / "services" / "file" / ".serverless" / "imagestore.zip"
EM_AARCH64 = 183
# Lambda's limit on a function plus its layers, unzipped.
UNZIPPED_LIMIT = 250 * 1024 * 1024


def elf_machine(header: bytes) -> int:
    assert header[:4] == b"\x7fELF", "not an ELF file"
    return struct.unpack_from("<H", header, 18)[0]


def test_layer_holds_pydantic_core_built_for_aarch64(packaged: None) -> None:
    with zipfile.ZipFile(LAYER_ZIP) as layer:
        names = layer.namelist()
        (core,) = [n for n in names if n.startswith("python/pydantic_core/_pydantic_core.") and n.endswith(".so")]
        assert "cpython-312-aarch64-linux-gnu" in core
        assert elf_machine(layer.read(core)[:20]) == EM_AARCH64


def test_every_compiled_module_in_the_layer_is_aarch64(packaged: None) -> None:
    with zipfile.ZipFile(LAYER_ZIP) as layer:
        shared = [n for n in layer.namelist() if n.endswith(".so") or ".so." in n.rsplit("/", 1)[-1]]
        assert shared
        wrong = [n for n in shared if elf_machine(layer.open(n).read(20)) != EM_AARCH64]
    assert not wrong, f"not built for aarch64: {wrong}"
    assert not [n for n in shared if "x86_64" in n or "cpython-311" in n]


def test_layer_holds_the_imagestore_package_without_the_build_machines_bytecode(packaged: None) -> None:
    with zipfile.ZipFile(LAYER_ZIP) as layer:
        names = set(layer.namelist())
    expected = {"python/imagestore/__init__.py", "python/imagestore/secrets.py", "python/imagestore/keys.py"}
    assert expected <= names
    # Only the runtime's own bytecode (tests/deploy/test_bytecode.py), never this machine's.
    assert not [n for n in names if n.endswith(".pyc") and not n.endswith(".cpython-312.pyc")]


def test_artifact_sizes_are_reported_and_fit_lambda(packaged: None) -> None:
    rows = artifact_sizes()
    report = format_report(rows)
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "artifacts.txt").write_text(report)
    print("\n" + report)
    zips = {name: unzipped for name, _, unzipped in rows if name.endswith(".zip")}
    layer = zips.pop("services/file/.serverless/imagestore.zip")
    for name, unzipped in zips.items():
        assert unzipped + layer < UNZIPPED_LIMIT, name
