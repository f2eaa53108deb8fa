"""The repository's services, resolved for one stage: serverless-compose.yml's services, order and params, each
serverless.yml resolved by the framework itself (`osls print`, framework_print.py, cached by content). There is no
other resolver of ${...} variables: what the stack runs is what `deploy` would resolve. The compose params that
name another service's outputs (${file.TableName}) are given from that service's local outputs, as `--param`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imagestore_local.framework_print import FrameworkError, FrameworkPrint

log = logging.getLogger("imagestore_local.config")

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "eu-west-1"
DEFAULT_STAGE = "local"
_OUTPUT_REFERENCE = re.compile(r"\$\{([A-Za-z][\w-]*)\.([\w.-]+)\}")  # a compose param's ${service.Output}


# --------------------------------------------------------------------------- services


def logical_function_id(function_key: str) -> str:
    """The CloudFormation logical id prefix serverless gives a function (myFn -> MyFn)."""
    normalized = function_key[:1].upper() + function_key[1:]
    return normalized.replace("-", "Dash").replace("_", "Underscore")


@dataclass
class FunctionDef:
    """One function of a service, with its handler and resolved settings."""

    service: ServiceConfig
    key: str
    name: str
    handler: str
    events: list[dict[str, Any]]
    environment: dict[str, Any]
    timeout: float
    memory_size: int

    @property
    def arn(self) -> str:
        """The fake ARN of the function."""
        return f"arn:aws:lambda:{self.service.region}:{ACCOUNT_ID}:function:{self.name}"

    @property
    def logical_id(self) -> str:
        """CloudFormation logical id of the function resource."""
        return logical_function_id(self.key) + "LambdaFunction"


@dataclass
class ServiceConfig:
    """One serverless service, resolved for one stage and region."""

    key: str  # name in serverless-compose.yml (file, project, ...)
    directory: Path
    config: dict[str, Any]  # resolved serverless.yml (CloudFormation intrinsics left as dicts)
    stage: str
    region: str
    functions: dict[str, FunctionDef] = field(default_factory=dict)

    @property
    def service_name(self) -> str:
        """The `service:` name (imagestore-file)."""
        service = self.config.get("service")
        if isinstance(service, dict):
            service = service.get("name")
        return str(service or self.key)

    @property
    def stack_name(self) -> str:
        """The CloudFormation stack name serverless uses."""
        return f"{self.service_name}-{self.stage}"

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """resources.Resources (logical id -> resource)."""
        return dict((self.config.get("resources") or {}).get("Resources") or {})

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        """resources.Outputs (name -> {Value: ...})."""
        return dict((self.config.get("resources") or {}).get("Outputs") or {})

    @property
    def provider(self) -> dict[str, Any]:
        """The provider section."""
        return dict(self.config.get("provider") or {})


@dataclass
class ComposeService:
    """One entry of serverless-compose.yml."""

    key: str
    path: Path
    params: dict[str, Any]
    depends_on: list[str]


class Project:
    """All services of the repository, with compose params and cross-service outputs."""

    def __init__(self, root: Path, stage: str = DEFAULT_STAGE, region: str | None = None) -> None:
        self.root = root
        self.stage = stage
        self.region_option = region
        self.compose = self._load_compose()
        self.framework = FrameworkPrint.for_root(root)
        self._services: dict[str, ServiceConfig] = {}
        self._loading: set[str] = set()
        self._output_cache: dict[str, dict[str, Any]] = {}

    # ---- compose

    def _load_compose(self) -> dict[str, ComposeService]:
        """Services from serverless-compose.yml, or every services/*/serverless.yml without one."""
        path = self.root / "serverless-compose.yml"
        entries: dict[str, ComposeService] = {}
        if path.exists():
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for key, spec in (raw.get("services") or {}).items():
                spec = spec or {}
                depends = spec.get("dependsOn") or []
                entries[key] = ComposeService(
                    key=key,
                    path=(self.root / str(spec.get("path", key))).resolve(),
                    params=dict(spec.get("params") or {}),
                    depends_on=[depends] if isinstance(depends, str) else list(depends),
                )
        else:
            log.info("no serverless-compose.yml; using every services/*/serverless.yml")
            for yml in sorted((self.root / "services").glob("*/serverless.yml")):
                key = yml.parent.name
                entries[key] = ComposeService(key=key, path=yml.parent.resolve(), params={}, depends_on=[])
        return entries

    def service_keys(self) -> list[str]:
        """Keys of services that have a serverless.yml, in dependency order."""
        ordered: list[str] = []

        def visit(key: str, trail: tuple[str, ...]) -> None:
            if key in ordered or key not in self.compose or key in trail:
                return
            for dep in self.compose[key].depends_on:
                visit(dep, (*trail, key))
            ordered.append(key)

        for key in self.compose:
            visit(key, ())
        present = [key for key in ordered if (self.compose[key].path / "serverless.yml").exists()]
        for key in ordered:
            if key not in present:
                log.warning("service %s: %s/serverless.yml is missing; skipped", key, self.compose[key].path)
        return present

    def _needs(self, key: str) -> set[str]:
        """The services `key` waits for: its dependsOn and those its params read (${file.TableName})."""
        entry = self.compose[key]
        referenced = re.findall(r"\$\{([A-Za-z][\w-]*)\.", json.dumps(entry.params, default=str))
        return {*entry.depends_on, *(name for name in referenced if name in self.compose and name != key)}

    def services(self) -> list[ServiceConfig]:
        """Every present service, resolved; services whose dependencies are loaded resolve in parallel
        (osls print takes seconds a service the first time)."""
        keys = self.service_keys()
        pending = [key for key in keys if key not in self._services]
        while pending:
            ready = [k for k in pending if all(d in self._services or d not in keys for d in self._needs(k))]
            ready = ready or pending[:1]
            if len(ready) == 1:
                self.service(ready[0])
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=len(ready)) as pool:
                    list(pool.map(self.service, ready))
            pending = [key for key in pending if key not in self._services]
        return [self.service(key) for key in keys]

    # ---- services

    def service(self, key: str) -> ServiceConfig:
        """The resolved service `key` (loaded on first use)."""
        if key in self._services:
            return self._services[key]
        if key in self._loading:
            raise FrameworkError(f"circular reference between services involving {key}")
        if key not in self.compose:
            raise KeyError(key)
        self._loading.add(key)
        try:
            service = self._load_service(self.compose[key])
        finally:
            self._loading.discard(key)
        self._services[key] = service
        return service

    def _load_service(self, entry: ComposeService) -> ServiceConfig:
        """One serverless.yml as osls print resolves it (FrameworkError names what it could not resolve)."""
        stage = self.stage
        resolved = self.framework.resolve(entry.path, stage, self.region_option, self._params_of(entry))
        region = str((resolved.get("provider") or {}).get("region") or self.region_option or DEFAULT_REGION)
        service = ServiceConfig(key=entry.key, directory=entry.path, config=resolved, stage=stage, region=region)
        provider = service.provider
        for fn_key, spec in (resolved.get("functions") or {}).items():
            spec = spec or {}
            if "handler" not in spec:
                log.warning("service %s: function %s has no handler (image functions unsupported)", entry.key, fn_key)
                continue
            service.functions[fn_key] = FunctionDef(
                service=service,
                key=fn_key,
                name=str(spec.get("name") or f"{service.service_name}-{stage}-{fn_key}"),
                handler=str(spec["handler"]),
                events=list(spec.get("events") or []),
                environment=dict(spec.get("environment") or {}),
                timeout=float(spec.get("timeout") or provider.get("timeout") or 6),
                memory_size=int(spec.get("memorySize") or provider.get("memorySize") or 1024),
            )
        return service

    def _params_of(self, entry: ComposeService) -> dict[str, str]:
        """The compose params of a service as `--param name=value` gives them, ${service.Output} read from the
        local outputs of that service; a param that cannot be given locally is left out (the service's own
        fallback then applies, or osls print fails naming it)."""
        params: dict[str, str] = {}
        for name, value in entry.params.items():
            text = str(value)
            for match in _OUTPUT_REFERENCE.finditer(str(value)):
                key, output = match.groups()
                found = self.outputs(key).get(output) if key in self.compose else None
                text = text.replace(match.group(0), "${" if found is None else str(found))
            if "${" in text:
                log.warning("service %s: compose param %s (%s) not given locally", entry.key, name, value)
                continue
            params[name] = text
        return params

    def outputs(self, key: str) -> dict[str, Any]:
        """Stack outputs of a service: resources.Outputs evaluated, plus function ARNs and the endpoint."""
        if key in self._output_cache:
            return self._output_cache[key]
        from imagestore_local.cloudformation import Intrinsics

        service = self.service(key)
        intrinsics = Intrinsics(service)
        outputs: dict[str, Any] = {}
        for name, spec in service.outputs.items():
            try:
                outputs[name] = intrinsics.evaluate((spec or {}).get("Value"))
            except (KeyError, ValueError) as exc:
                log.warning("service %s: output %s not resolvable locally: %s", key, name, exc)
        for layer in service.config.get("layers") or {}:
            layer_arn = f"arn:aws:lambda:{service.region}:{ACCOUNT_ID}:layer:{layer}:1"
            outputs[logical_function_id(layer) + "LambdaLayerQualifiedArn"] = layer_arn
            outputs[logical_function_id(layer) + "LambdaLayerHash"] = "local"
        for fn in service.functions.values():
            outputs[logical_function_id(fn.key) + "LambdaFunctionQualifiedArn"] = fn.arn
            outputs[logical_function_id(fn.key) + "LambdaFunctionArn"] = fn.arn
        outputs.setdefault("ServiceEndpoint", os.environ.get("IMAGESTORE_PUBLIC_BASE_URL", "http://127.0.0.1:3000"))
        self._output_cache[key] = outputs
        return outputs

    def function_by_arn(self, arn: str) -> FunctionDef | None:
        """Map a (fake) Lambda ARN or function name back to a function of some service."""
        name = arn
        if arn.startswith("arn:"):
            parts = arn.split(":")
            name = parts[6] if len(parts) > 6 else arn
        for service in self.services():
            for fn in service.functions.values():
                if fn.name == name:
                    return fn
        return None


def find_root(start: Path | None = None) -> Path:
    """The repository root: IMAGESTORE_ROOT, or the nearest parent with a services/ folder."""
    if os.environ.get("IMAGESTORE_ROOT"):
        return Path(os.environ["IMAGESTORE_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "services").is_dir() and (candidate / "pyproject.toml").exists():
            return candidate
    package_root = Path(__file__).resolve().parents[2]
    return package_root
