"""Loads serverless.yml and serverless-compose.yml and resolves their ${...} variables.

A service's serverless.yml is resolved by the framework itself (`osls print`, imagestore_local.framework_print,
cached by content) when osls is installed; the VariableResolver below is the fallback without Node.js
(IMAGESTORE_LOCAL_RESOLVER=builtin forces it) and resolves serverless-compose.yml's params
(${file.Output} from the local outputs of the services already loaded). A ${cf:} or ${ssm:} variable
that resolves to nothing is an error in both: never a silent null.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imagestore_local.framework_print import FrameworkError, FrameworkPrint

log = logging.getLogger("imagestore_local.config")

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "eu-west-1"
DEFAULT_STAGE = "local"

# --------------------------------------------------------------------------- YAML


class CfnLoader(yaml.SafeLoader):
    """Safe YAML loader that turns CloudFormation short-form tags (!Ref, !GetAtt, ...) into dicts."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    """Build the long form of one short-form intrinsic function."""
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML file with CloudFormation tags; an empty file gives {}."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=CfnLoader)
    return data or {}


# --------------------------------------------------------------------------- variables


class VariableError(ValueError):
    """A ${...} reference that cannot be resolved and has no default."""


_MISSING = object()
# Sources that only AWS answers: unresolved, they fail loudly instead of becoming null.
_AWS_ONLY_SOURCES = ("cf:", "ssm:", "s3:", "cf(")
_REF_SOURCES = (
    "self:",
    "opt:",
    "sls:",
    "env:",
    "param:",
    "aws:",
    "file(",
    "ssm:",
    "cf:",
    "s3:",
    "strToBool(",
)


def _find_closing(text: str, start: int) -> int:
    """Index of the '}' closing the '${' at text[start], honouring nesting and quotes."""
    depth = 0
    quote: str | None = None
    i = start
    while i < len(text):
        char = text[i]
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"" and depth >= 1:
            quote = char
        elif text.startswith("${", i):
            depth += 1
            i += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise VariableError(f"unterminated variable in {text!r}")


def _split_top_level(body: str) -> list[str]:
    """Split 'ref, default' on commas that are not nested in ${...}, quotes or brackets."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif body.startswith("${", i):
            depth += 1
            current.append("${")
            i += 2
            continue
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    parts.append("".join(current).strip())
    return parts


Lookup = Callable[[str, str], Any]


@dataclass
class VariableResolver:
    """Resolves Serverless Framework variables with pluggable sources (name -> lookup(address))."""

    sources: dict[str, Callable[[str], Any]]
    dotted: Callable[[str], Any] | None = None  # compose-style ${service.Output}
    strict: bool = False
    max_depth: int = 20

    def resolve(self, value: Any, depth: int = 0) -> Any:
        """Resolve every ${...} in a string, list or dict (recursively)."""
        if isinstance(value, str):
            return self.resolve_string(value, depth)
        if isinstance(value, list):
            return [self.resolve(item, depth) for item in value]
        if isinstance(value, dict):
            return {key: self.resolve(item, depth) for key, item in value.items()}
        return value

    def resolve_string(self, text: str, depth: int = 0) -> Any:
        """Resolve one string; a string that is exactly one variable keeps the value's type."""
        if depth > self.max_depth:
            raise VariableError(f"variable nesting too deep in {text!r}")
        if "${" not in text:
            return text
        start = text.find("${")
        end = _find_closing(text, start)
        if start == 0 and end == len(text) - 1 and self._is_variable(text[2:-1]):
            # One variable spanning the whole string keeps the value's type.
            return self._evaluate_or_warn(text[2:-1], depth)
        out: list[str] = []
        pos = 0
        while True:
            start = text.find("${", pos)
            if start < 0:
                out.append(text[pos:])
                break
            end = _find_closing(text, start)
            out.append(text[pos:start])
            body = text[start + 2 : end]
            if self._is_variable(body):
                value = self._evaluate_or_warn(body, depth)
                out.append("" if value is None else _to_text(value))
            else:
                out.append(text[start : end + 1])  # e.g. Fn::Sub's ${AWS::Region}: not ours
            pos = end + 1
        return "".join(out)

    def _is_variable(self, body: str) -> bool:
        """True when ${body} is a Serverless variable (not a CloudFormation Fn::Sub placeholder)."""
        first = _split_top_level(body)[0]
        return first.startswith("${") or self._looks_like_reference(first)

    def _evaluate_or_warn(self, body: str, depth: int) -> Any:
        """Evaluate a variable; in lenient mode an unresolvable one becomes None with a warning."""
        try:
            return self._evaluate(body, depth)
        except VariableError:
            if self.strict or depth > 0:
                raise
            needs_aws = [c for c in _split_top_level(body) if c.lstrip("${").startswith(_AWS_ONLY_SOURCES)]
            if needs_aws:
                raise VariableError(
                    f"cannot resolve ${{{body}}}: {needs_aws[0]} is read from AWS, which the local stack does "
                    "not call; give the value another way (a param, an env variable or a default)"
                ) from None
            log.warning("cannot resolve ${%s} (no value and no default); using null", body)
            return None

    def _evaluate(self, body: str, depth: int) -> Any:
        """Evaluate the inside of one ${...}: a reference followed by optional defaults."""
        candidates = _split_top_level(body)
        for index, candidate in enumerate(candidates):
            value = self._candidate(candidate, depth, is_default=index > 0)
            if value is not _MISSING and value is not None:
                return value
        raise VariableError(f"cannot resolve ${{{body}}}")

    def _candidate(self, candidate: str, depth: int, is_default: bool) -> Any:
        """The value of one reference or default, or _MISSING."""
        if len(candidate) >= 2 and candidate[0] == candidate[-1] and candidate[0] in "'\"":
            return candidate[1:-1]
        if "${" in candidate:
            try:
                inner = self.resolve_string(candidate, depth + 1)
            except VariableError:
                return _MISSING
            if isinstance(inner, str) and not is_default and self._looks_like_reference(inner):
                return self._safe_lookup(inner, depth)
            return inner
        if self._looks_like_reference(candidate):
            return self._safe_lookup(candidate, depth)
        if is_default:
            return _literal(candidate)
        return _MISSING

    def _looks_like_reference(self, text: str) -> bool:
        """True for 'source:address' or a compose-style 'service.Output'."""
        if any(text.startswith(source + ":") for source in self.sources):
            return True
        if text.startswith(_REF_SOURCES):
            return True
        return self.dotted is not None and re.fullmatch(r"[A-Za-z][\w-]*\.[\w.-]+", text) is not None

    def _safe_lookup(self, reference: str, depth: int) -> Any:
        """_lookup, with an unresolvable nested value counting as missing."""
        try:
            return self._lookup(reference, depth)
        except VariableError as exc:
            log.debug("${%s} unresolved: %s", reference, exc)
            return _MISSING

    def _lookup(self, reference: str, depth: int) -> Any:
        """Look a reference up in its source, then resolve what it returned."""
        file_ref = re.fullmatch(r"file\(([^)]+)\)(?::(.*))?", reference.strip())
        if file_ref and "file" in self.sources:
            try:
                value = self.sources["file"](f"{file_ref.group(1).strip()}:{file_ref.group(2) or ''}")
            except KeyError:
                return _MISSING
            return _MISSING if value is None else self.resolve(value, depth + 1)
        source, sep, address = reference.partition(":")
        if sep and source in self.sources:
            try:
                value = self.sources[source](address.strip())
            except KeyError:
                return _MISSING
        elif not sep and self.dotted is not None:
            try:
                value = self.dotted(reference)
            except KeyError:
                return _MISSING
        else:
            log.debug("unsupported variable source in ${%s}", reference)
            return _MISSING
        if value is None:
            return _MISSING
        return self.resolve(value, depth + 1)


def file_variable(path: Path, prop: str, stage: str, service: str) -> Any:
    """${file(path):a.b}: a YAML or JSON file's value at a.b, or a JavaScript file's export (a function
    is called as Serverless calls it, with resolveVariable for sls:stage and self:service) at a.b."""
    if not path.is_file():
        raise KeyError(str(path))
    value = _file_value(path.resolve(), path.stat().st_mtime_ns, stage, service)
    for part in [p for p in prop.split(".") if p]:
        if not isinstance(value, dict) or part not in value:
            raise KeyError(prop)
        value = value[part]
    return copy.deepcopy(value)


@functools.lru_cache(maxsize=64)
def _file_value(path: Path, mtime_ns: int, stage: str, service: str) -> Any:
    """A file's whole value (a JavaScript file run once per stage and service while it is unchanged)."""
    del mtime_ns  # part of the cache key only
    if path.suffix == ".js":
        runner = (
            "const f = require(process.argv[1]);"
            "const vars = {'sls:stage': process.argv[2], 'self:service': process.argv[3]};"
            "const resolveVariable = async (v) => { if (!(v in vars)) throw new Error(v); return vars[v]; };"
            "Promise.resolve(typeof f === 'function' ? f({options: {stage: process.argv[2]}, resolveVariable}) : f)"
            ".then((r) => process.stdout.write(JSON.stringify(r)));"
        )
        import json
        import subprocess

        output = subprocess.run(
            ["node", "-e", runner, str(path), stage, service],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        return json.loads(output)
    return load_yaml(path)


def _literal(text: str) -> Any:
    """A bare default: a number, a boolean or the text itself."""
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def _to_text(value: Any) -> str:
    """How a variable's value reads inside a longer string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        return json.dumps(value)
    return str(value)


def dig(data: Any, path: str) -> Any:
    """Follow a dotted path into nested dicts/lists; KeyError when absent."""
    current = data
    if not path:
        return current
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise KeyError(path)
    return current


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

    def __init__(
        self, root: Path, stage: str = DEFAULT_STAGE, region: str | None = None, resolver: str | None = None
    ) -> None:
        self.root = root
        self.stage = stage
        self.region_option = region
        self.compose = self._load_compose()
        self.framework = FrameworkPrint.for_root(root, resolver)
        self._services: dict[str, ServiceConfig] = {}
        self._loading: set[str] = set()
        self._output_cache: dict[str, dict[str, Any]] = {}

    # ---- compose

    def _load_compose(self) -> dict[str, ComposeService]:
        """Services from serverless-compose.yml, or every services/*/serverless.yml without one."""
        path = self.root / "serverless-compose.yml"
        entries: dict[str, ComposeService] = {}
        if path.exists():
            raw = load_yaml(path)
            for key, spec in (raw.get("services") or {}).items():
                spec = spec or {}
                depends = spec.get("dependsOn") or []
                entries[key] = ComposeService(
                    key=key,
                    path=(self.root / str(spec.get("path", key))).resolve(),
                    params=dict(spec.get("params") or {}),
                    depends_on=[depends] if isinstance(depends, str) else list(depends),
                )
            self._compose_globals = raw
        else:
            log.info("no serverless-compose.yml; using every services/*/serverless.yml")
            self._compose_globals = {}
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
            if len(ready) == 1 or self.framework is None:
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
            raise VariableError(f"circular reference between services involving {key}")
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
        """Parse and resolve one serverless.yml."""
        raw = load_yaml(entry.path / "serverless.yml")
        stage = self.stage
        region_box: dict[str, str] = {}

        def region() -> str:
            if "value" not in region_box:
                provider_region = (raw.get("provider") or {}).get("region")
                value = resolver.resolve(provider_region) if provider_region is not None else None
                region_box["value"] = str(value or self.region_option or DEFAULT_REGION)
            return region_box["value"]

        def self_source(address: str) -> Any:
            if address == "":
                return raw
            return copy.deepcopy(dig(raw, address))

        def opt_source(address: str) -> Any:
            options = {"stage": stage, "region": self.region_option}
            if address not in options or options[address] is None:
                raise KeyError(address)
            return options[address]

        def sls_source(address: str) -> Any:
            if address == "stage":
                return stage
            if address == "instanceId":
                return "local"
            raise KeyError(address)

        def aws_source(address: str) -> Any:
            if address == "region":
                return region()
            if address == "accountId":
                return ACCOUNT_ID
            raise KeyError(address)

        def param_source(address: str) -> Any:
            if address in entry.params:
                return self._resolve_compose_value(entry.params[address])
            stage_params = raw.get("params") or {}
            for section in (stage, "default"):
                values = stage_params.get(section) or {}
                if address in values:
                    return values[address]
            raise KeyError(address)

        def file_source(address: str) -> Any:
            path, _, prop = address.partition(":")
            return file_variable(entry.path / path, prop, stage, str(raw.get("service") or entry.key))

        resolver = VariableResolver(
            sources={
                "self": self_source,
                "opt": opt_source,
                "sls": sls_source,
                "aws": aws_source,
                "env": _env_source,
                "param": param_source,
                "file": file_source,
            }
        )
        if self.framework is not None:
            try:
                resolved = self.framework.resolve(entry.path, stage, self.region_option, self._params_of(entry))
            except FrameworkError as exc:
                raise VariableError(str(exc)) from None
            region_box["value"] = str(
                (resolved.get("provider") or {}).get("region") or self.region_option or DEFAULT_REGION
            )
        else:
            resolved = resolver.resolve(raw)
        service = ServiceConfig(key=entry.key, directory=entry.path, config=resolved, stage=stage, region=region())
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
        """The compose params of a service as `--param name=value` gives them; one that cannot be
        resolved locally is left out (the service's own fallback then applies, or fails loudly)."""
        params: dict[str, str] = {}
        for name, value in entry.params.items():
            try:
                resolved = self._resolve_compose_value(value)
            except VariableError as exc:
                log.warning("service %s: compose param %s not resolved locally: %s", entry.key, name, exc)
                continue
            if resolved is None:
                log.warning("service %s: compose param %s resolves to nothing locally", entry.key, name)
                continue
            params[name] = _to_text(resolved)
        return params

    def _resolve_compose_value(self, value: Any) -> Any:
        """Resolve a compose param: ${sls:stage}, ${env:X}, ${service.Output}."""
        resolver = VariableResolver(
            sources={
                "sls": lambda a: self.stage if a == "stage" else (_ for _ in ()).throw(KeyError(a)),
                "opt": lambda a: self.stage if a == "stage" else (_ for _ in ()).throw(KeyError(a)),
                "env": _env_source,
            },
            dotted=self._compose_output,
        )
        return resolver.resolve(value)

    def _compose_output(self, reference: str) -> Any:
        """${file.TableName}: an output of another service."""
        key, _, output = reference.partition(".")
        if key not in self.compose:
            raise KeyError(reference)
        outputs = self.outputs(key)
        if output not in outputs:
            log.warning("service %s has no output %s", key, output)
            raise KeyError(reference)
        return outputs[output]

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


def _env_source(address: str) -> Any:
    """${env:NAME}."""
    if address not in os.environ:
        raise KeyError(address)
    return os.environ[address]


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
