"""GET /demo/uploader (local/imagestore_local/demo.py): the built page and its assets, nothing else."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from imagestore_local import demo

S3 = "http://127.0.0.1:8333"


def get(root: Path, path: str, method: str = "GET") -> object:
    request = Request(EnvironBuilder(path=path, method=method).get_environ())
    return demo.respond(SimpleNamespace(root=root), S3, request)  # type: ignore[arg-type]


def test_the_page_and_its_assets_come_from_the_build_with_a_strict_policy(tmp_path: Path) -> None:
    built = tmp_path / demo.BUILD_DIR
    built.mkdir(parents=True)
    (built / "index.html").write_text("<!doctype html><title>demo</title>")
    (built / "uploader.js").write_text("export {}")
    page = get(tmp_path, "/demo/uploader")
    assert page.status_code == 200 and page.mimetype == "text/html"  # type: ignore[attr-defined]
    policy = page.headers["Content-Security-Policy"]  # type: ignore[attr-defined]
    assert "script-src 'self'" in policy and f"connect-src 'self' {S3}" in policy
    script = get(tmp_path, "/demo/uploader/uploader.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"  # type: ignore[attr-defined]


def test_other_paths_methods_and_a_missing_build_are_clear_errors(tmp_path: Path) -> None:
    assert get(tmp_path, "/demo/other") is None
    assert get(tmp_path, "/files") is None
    missing = get(tmp_path, "/demo/uploader")
    assert missing.status_code == 404 and b"make uploader" in missing.get_data()  # type: ignore[attr-defined]
    (tmp_path / demo.BUILD_DIR).mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("no")
    assert get(tmp_path, "/demo/uploader/../../../secret.txt").status_code == 404  # type: ignore[attr-defined]
    assert get(tmp_path, "/demo/uploader/build.mjs").status_code == 404  # type: ignore[attr-defined]
    assert get(tmp_path, "/demo/uploader", "POST").status_code == 405  # type: ignore[attr-defined]
