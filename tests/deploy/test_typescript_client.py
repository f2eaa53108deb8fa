"""The TypeScript client of the API, built as CI builds it: openapi-typescript generates the types of
docs/openapi.json into build/openapi-ts (never committed), and tsc (tsconfig.json) checks against them the
browser code that calls the API: the phone page (services/file/web/mobile/app.js, `// @ts-check` with JSDoc
types of the schemas), the openapi-fetch client (services/file/web/client/imagestore-client.ts) and the Uppy
uploader (services/file/web/uploader/src: the answers it reads typed by the schemas)."""

from __future__ import annotations

import subprocess

from tests.e2e.stack import ROOT

BIN = ROOT / "node_modules" / ".bin"
TYPES = ROOT / "build" / "openapi-ts" / "imagestore.d.ts"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_the_browser_code_type_checks_against_the_generated_client() -> None:
    for tool in ("openapi-typescript", "tsc"):
        assert (BIN / tool).exists(), f"{BIN / tool} is missing: run `make setup` (npm devDependencies)"
    TYPES.parent.mkdir(parents=True, exist_ok=True)
    # Request properties with a default are optional (openapi-typescript's default makes them required).
    generated = _run(
        str(BIN / "openapi-typescript"), "docs/openapi.json", "-o", str(TYPES), "--default-non-nullable", "false"
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "export interface paths" in TYPES.read_text()
    assert "⚠" not in generated.stdout + generated.stderr, generated.stdout + generated.stderr

    checked = _run(str(BIN / "tsc"), "-p", "tsconfig.json", "--listFiles")
    listed = checked.stdout
    assert checked.returncode == 0, "tsc found the browser code at odds with the API's contract:\n" + listed[-5000:]
    # What tsc checked: the page, with its API types, and the client.
    for path in (
        "services/file/web/mobile/app.js",
        "services/file/web/client/imagestore-client.ts",
        "services/file/web/uploader/src/index.js",
        "services/file/web/uploader/src/imagestore-s3-client.js",
        str(TYPES),
    ):
        assert path.split("/")[-1] in listed, listed
    assert "// @ts-check" in (ROOT / "services/file/web/mobile/app.js").read_text()
