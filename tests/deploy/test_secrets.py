"""No secret in the service definitions or templates; the authorizer reads its secret from SSM."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from imagestore.secrets import SecretUnavailable, read_secure_parameter
from tests.deploy.templates import ROOT, SERVICES, Template

SECRET_SHAPES = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bA[KS]IA[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"(?i)\b(secret|password|passwd|api[_-]?key|token)\s*[:=]\s*['\"]?[A-Za-z0-9+/_\-!]{12,}"),
]


@pytest.mark.parametrize("service", SERVICES)
def test_serverless_yml_holds_no_secret_value(service: str) -> None:
    text = (ROOT / "services" / service / "serverless.yml").read_text()
    for shape in SECRET_SHAPES:
        assert not shape.search(text), f"{service}/serverless.yml: {shape.pattern}"
    assert not re.search(r"^\s*IMAGESTORE_JWT_SECRET\s*:", text, re.MULTILINE), "the secret goes through SSM"


@pytest.mark.parametrize("service", SERVICES)
def test_no_function_environment_carries_a_secret(templates: dict[str, Template], service: str) -> None:
    for name, function in templates[service].functions().items():
        env = function["Properties"].get("Environment", {}).get("Variables", {})
        for key in env:
            if key.startswith("PARAMETERS_SECRETS_EXTENSION_"):
                continue  # the extension's own settings (port, cache)
            assert "SECRET" not in key or key.endswith("_PARAMETER"), f"{name}: {key}"
            assert "PRIVATE" not in key and "PASSWORD" not in key, f"{name}: {key}"
        text = json.dumps(env)
        for shape in SECRET_SHAPES:
            assert not shape.search(text), f"{name}: {shape.pattern}"


def test_the_authorizer_reads_its_secret_through_the_extension(templates: dict[str, Template]) -> None:
    authorizer = templates["file"].resources["AuthorizerLambdaFunction"]["Properties"]
    env = authorizer["Environment"]["Variables"]
    assert env["IMAGESTORE_JWT_SECRET_PARAMETER"].startswith("/imagestore/")
    extension = "AWS-Parameters-and-Secrets-Lambda-Extension-Arm64"
    assert any(extension in str(layer) for layer in authorizer["Layers"])


class _Extension(BaseHTTPRequestHandler):
    """The Parameters and Secrets extension's HTTP interface, as far as read_secure_parameter uses it."""

    parameters: ClassVar[dict[str, str]] = {"/imagestore/dev/jwt-secret": "s3cr3t-value"}
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        from urllib.parse import parse_qs, urlparse

        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.seen.append(
            {"path": url.path, "query": query, "token": self.headers.get("X-Aws-Parameters-Secrets-Token")}
        )
        if self.headers.get("X-Aws-Parameters-Secrets-Token") != "session-token":
            self.send_response(401)
            self.end_headers()
            return
        value = self.parameters.get(query.get("name", ""))
        if value is None:
            self.send_response(400)
            self.end_headers()
            return
        parameter = {"Name": query["name"], "Type": "SecureString", "Value": value}
        body = json.dumps({"Parameter": parameter}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def extension(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    server = HTTPServer(("127.0.0.1", 0), _Extension)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.server_address[1]))
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    _Extension.seen.clear()
    yield _Extension.seen
    server.shutdown()
    server.server_close()


def test_read_secure_parameter_asks_the_extension_with_the_session_token(
    extension: list[dict[str, Any]],
) -> None:
    assert read_secure_parameter("/imagestore/dev/jwt-secret") == "s3cr3t-value"
    assert extension == [
        {
            "path": "/systemsmanager/parameters/get",
            "query": {"name": "/imagestore/dev/jwt-secret", "withDecryption": "true"},
            "token": "session-token",
        }
    ]


def test_an_unknown_parameter_is_reported_not_returned_empty(extension: list[dict[str, Any]]) -> None:
    with pytest.raises(SecretUnavailable, match="400"):
        read_secure_parameter("/imagestore/dev/missing")


def test_a_wrong_token_is_refused(extension: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "other")
    with pytest.raises(SecretUnavailable, match="401"):
        read_secure_parameter("/imagestore/dev/jwt-secret")


def test_no_extension_running_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Extension)
    port = server.server_address[1]
    server.server_close()
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(port))
    with pytest.raises(SecretUnavailable, match="did not answer"):
        read_secure_parameter("/imagestore/dev/jwt-secret", timeout=0.5)
