"""The Serverless Framework's own variable resolution: `osls print --format json`, cached by content.

`osls print` resolves a service's serverless.yml offline exactly as `deploy` does (${sls:}, ${opt:},
${param:} with the compose params given as --param, ${env:}, ${self:}, ${file(...)} including
JavaScript resolvers, ${aws:region}). A variable it cannot resolve without AWS (${cf:}, ${ssm:},
${aws:accountId}, ...) is an error that names each variable: the local stack does not start.

The result is cached in <repo>/.local-data/config-cache/ under a hash of everything it depends on: the
serverless.yml, the stage, region and params, the values of the ${env:} variables it names, the files
its ${file(...)} variables name (for a JavaScript file, every file of its folder), and the osls version.
A restart with nothing changed reads the cache (milliseconds instead of about 1.5 s a service).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("imagestore_local.config")

REPO = Path(__file__).resolve().parents[2]  # this repository (the package is installed editable)
_ENV_VARIABLE = re.compile(r"\benv:([A-Za-z_][A-Za-z0-9_]*)")
_FILE_VARIABLE = re.compile(r"\$\{file\(([^)]+)\)")
_SCRIPT_SUFFIXES = (".js", ".cjs", ".mjs", ".ts")
KEEP_PER_SERVICE = 8  # cached answers kept per service and stage


class FrameworkError(ValueError):
    """osls could not resolve a serverless.yml (the message lists the variables)."""


@dataclass
class FrameworkPrint:
    """Runs `osls print` for a service directory and caches its JSON."""

    osls: Path
    cache_dir: Path

    @classmethod
    def for_root(cls, root: Path) -> FrameworkPrint:
        """The framework of a repository (npm ci installs osls), else this one's: a repository of stub services
        (the tests') has no node_modules of its own. Its cache sits beside the node_modules it uses."""
        for base in dict.fromkeys((root.absolute(), REPO)):
            osls = base / "node_modules" / ".bin" / "osls"
            if osls.exists() and shutil.which("node"):
                return cls(osls=osls, cache_dir=base / ".local-data" / "config-cache")
        raise FrameworkError(f"osls (npm ci, or make setup) and node are needed to resolve {root}'s serverless.yml")

    def resolve(self, directory: Path, stage: str, region: str | None, params: dict[str, str]) -> dict[str, Any]:
        """The resolved serverless.yml of the service in `directory`."""
        key = self._cache_key(directory, stage, region, params)
        cached = self.cache_dir / f"{directory.name}-{stage}-{key[:24]}.json"
        if cached.exists():
            try:
                return dict(json.loads(cached.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                log.debug("config cache %s unreadable; resolving again", cached)
        command = [str(self.osls), "print", "--format", "json", "--stage", stage]
        if region:
            command += ["--region", region]
        for name, value in params.items():
            command += ["--param", f"{name}={value}"]
        log.info("resolving %s/serverless.yml (stage %s) with osls print", directory.name, stage)
        done = subprocess.run(
            command,
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
            env=_offline_environment(),
        )
        if done.returncode != 0:
            raise FrameworkError(
                f"osls print of {directory}/serverless.yml (stage {stage}) failed:\n"
                + _error_text(done.stderr + done.stdout)
            )
        try:
            resolved = json.loads(done.stdout)
        except ValueError as exc:
            raise FrameworkError(f"osls print of {directory} printed no JSON: {done.stdout[:300]!r}") from exc
        self._store(cached, done.stdout)
        return dict(resolved)

    def _store(self, path: Path, text: str) -> None:
        """Write the cache file atomically (parallel stacks may resolve the same service)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            ignore = path.parent.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text(
                    "# imagestore local stack data (imagestore-local reset deletes it)\n*\n", encoding="utf-8"
                )
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.chmod(0o600)  # resolved ${env:} values may be secrets
            tmp.replace(path)
            # Older answers for the same service and stage (the file has changed since) beyond the last few go.
            prefix = path.name.rsplit("-", 1)[0] + "-"
            older = sorted(
                (p for p in path.parent.glob(prefix + "*.json") if p != path),
                key=lambda p: p.stat().st_mtime,
                reverse=True,
            )
            for stale in older[KEEP_PER_SERVICE - 1 :]:
                stale.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("config cache %s not written: %s", path, exc)

    def _cache_key(self, directory: Path, stage: str, region: str | None, params: dict[str, str]) -> str:
        """A hash of everything osls print's answer depends on."""
        digest = hashlib.sha256()
        text = (directory / "serverless.yml").read_text(encoding="utf-8")
        parts: list[Any] = [text, stage, region, sorted(params.items()), _osls_version(self.osls)]
        parts.append(sorted((name, os.environ.get(name)) for name in set(_ENV_VARIABLE.findall(text))))
        for reference in sorted(set(_FILE_VARIABLE.findall(text))):
            path = (directory / reference.strip().strip("'\"")).resolve()
            files = [path]
            if path.suffix in _SCRIPT_SUFFIXES and path.parent.is_dir():
                files = sorted(p for p in path.parent.iterdir() if p.is_file() and p.stat().st_size < 1_000_000)
            for file in files:
                parts.append([str(file), file.read_bytes().hex() if file.exists() else None])
        # ${env:} read by a JavaScript resolver cannot be listed; AWS_REGION and the stage cover this repo's.
        parts.append(os.environ.get("AWS_REGION"))
        digest.update(json.dumps(parts, default=str).encode())
        return digest.hexdigest()


def _offline_environment() -> dict[str, str]:
    """This process's environment without AWS credentials: a ${cf:} or ${ssm:} variable fails at once
    ("AWS provider credentials not found") instead of calling AWS with the local stack's fake keys."""
    env = {k: v for k, v in os.environ.items() if k not in _CREDENTIALS and not k.startswith("AWS_ENDPOINT_URL")}
    env.update(
        {
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
            "SLS_TELEMETRY_DISABLED": "1",
            "SLS_NOTIFICATIONS_MODE": "off",
        }
    )
    return env


_CREDENTIALS = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    }
)


def _osls_version(osls: Path) -> str:
    package = osls.resolve().parent.parent / "package.json"
    try:
        return str(json.loads(package.read_text(encoding="utf-8")).get("version"))
    except (OSError, ValueError):
        return "unknown"


def _error_text(output: str) -> str:
    """osls's error, without node's deprecation warnings and the banner."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Error")), 0)
    return "\n".join(line for line in lines[start:] if line.strip())
