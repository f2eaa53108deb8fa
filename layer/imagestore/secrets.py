"""Secrets from SSM Parameter Store through the AWS Parameters and Secrets Lambda Extension (no AWS SDK)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request

EXTENSION_PORT = 2773  # the extension's default; PARAMETERS_SECRETS_EXTENSION_HTTP_PORT overrides it


class SecretUnavailable(RuntimeError):
    """The extension could not return the parameter (not running, not found, or not allowed)."""


def read_secure_parameter(name: str, *, timeout: float = 2.0) -> str:
    """The decrypted value of the SSM SecureString `name`, read through the extension on localhost."""
    port = int(os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") or EXTENSION_PORT)
    query = urllib.parse.urlencode({"name": name, "withDecryption": "true"})
    request = urllib.request.Request(
        f"http://localhost:{port}/systemsmanager/parameters/get?{query}",
        headers={"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN", "")},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        raise SecretUnavailable(f"parameter {name}: the extension answered {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
        raise SecretUnavailable(f"parameter {name}: the extension did not answer ({exc})") from exc
    try:
        return str(body["Parameter"]["Value"])
    except (KeyError, TypeError) as exc:
        raise SecretUnavailable(f"parameter {name}: unexpected answer from the extension") from exc
