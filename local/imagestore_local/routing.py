"""The REST API routes of every service's http events, and API Gateway's path matching."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from imagestore_local.config_loader import FunctionDef, Project, ServiceConfig

log = logging.getLogger("imagestore_local.routing")

DEFAULT_IDENTITY_SOURCE = "method.request.header.Authorization"
DEFAULT_AUTHORIZER_TTL = 300


@dataclass(frozen=True)
class AuthorizerSpec:
    """A Lambda authorizer attached to a route."""

    function: FunctionDef
    type: str  # "request" or "token"
    identity_sources: tuple[str, ...]
    ttl: int
    identity_validation: str | None = None

    @property
    def cache_id(self) -> str:
        """Identity of the authorizer for its result cache."""
        return f"{self.function.service.key}/{self.function.key}/{self.type}"


@dataclass
class Route:
    """One http event: method + resource path -> function."""

    service: ServiceConfig
    function: FunctionDef
    method: str  # upper case, or ANY
    resource: str  # "/files/{fileId}"
    authorizer: AuthorizerSpec | None
    cors: bool | dict[str, Any] = False
    private: bool = False  # `private: true`: the method requires an API key (usage plans)
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.segments = tuple(part for part in self.resource.strip("/").split("/") if part)


def api_id(service: ServiceConfig) -> str:
    """A stable fake REST API id per service (10 lowercase characters, like API Gateway's)."""
    return hashlib.sha1(f"{service.service_name}-{service.stage}".encode()).hexdigest()[:10]


def _parse_http(event: Any) -> dict[str, Any] | None:
    """The http event as a dict ('GET path' short form included)."""
    if isinstance(event, str):
        method, _, path = event.partition(" ")
        return {"method": method, "path": path}
    if isinstance(event, dict):
        return event
    return None


def _authorizer_spec(project: Project, fn: FunctionDef, raw: Any) -> AuthorizerSpec | None:
    """Resolve a route's `authorizer:` to the function that runs it."""
    if raw is None:
        return None
    spec: dict[str, Any] = {"name": raw} if isinstance(raw, str) else dict(raw)
    kind = str(spec.get("type") or "token").lower()
    if kind in ("aws_iam", "cognito_user_pools") or spec.get("scopes") or "cognito" in str(spec.get("arn", "")):
        log.warning("%s/%s: %s authorizer is not emulated; route left open", fn.service.key, fn.key, kind)
        return None
    target: FunctionDef | None = None
    name = spec.get("name")
    arn = spec.get("arn") or spec.get("functionArn")
    if isinstance(name, str) and name.startswith("arn:"):
        arn, name = name, None
    if isinstance(arn, dict):
        from imagestore_local.cloudformation import Intrinsics

        try:
            arn = Intrinsics(fn.service).evaluate(arn)
        except (KeyError, ValueError):
            log.warning("%s/%s: authorizer arn %s not resolvable", fn.service.key, fn.key, arn)
            arn = None
    if arn:
        target = project.function_by_arn(str(arn))
    elif name:
        target = fn.service.functions.get(str(name)) or project.function_by_arn(str(name))
    if target is None:
        raise ValueError(f"{fn.service.key}/{fn.key}: authorizer {raw!r} does not name a local function")
    sources = spec.get("identitySource", DEFAULT_IDENTITY_SOURCE)
    identity = tuple(part.strip() for part in str(sources).split(",") if part.strip()) if sources else ()
    if kind not in ("request", "token"):
        kind = "token"
    ttl = spec.get("resultTtlInSeconds", DEFAULT_AUTHORIZER_TTL)
    return AuthorizerSpec(
        function=target,
        type=kind,
        identity_sources=identity,
        ttl=int(ttl),
        identity_validation=spec.get("identityValidationExpression"),
    )


def build_routes(project: Project) -> list[Route]:
    """Every http event of every service."""
    routes: list[Route] = []
    for service in project.services():
        for fn in service.functions.values():
            for event in fn.events:
                if not isinstance(event, dict) or "http" not in event:
                    if isinstance(event, dict) and "httpApi" in event:
                        log.warning("%s/%s: httpApi events are not served (REST only)", service.key, fn.key)
                    continue
                http = _parse_http(event["http"])
                if http is None or "path" not in http:
                    continue
                try:
                    authorizer = _authorizer_spec(project, fn, http.get("authorizer"))
                except ValueError:
                    log.exception("route %s %s skipped", http.get("method"), http.get("path"))
                    continue
                method = str(http.get("method", "any")).upper()
                route = Route(
                    service=service,
                    function=fn,
                    method="ANY" if method == "*" else method,
                    resource="/" + str(http["path"]).strip("/"),
                    authorizer=authorizer,
                    cors=http.get("cors", False),
                    private=bool(http.get("private", False)),
                )
                routes.append(route)
    _warn_duplicates(routes)
    return routes


def _warn_duplicates(routes: list[Route]) -> None:
    """Two services declaring the same method and path: the first one wins."""
    seen: dict[tuple[str, str], Route] = {}
    for route in routes:
        key = (route.method, _shape(route.segments))
        if key in seen:
            other = seen[key]
            log.warning(
                "route %s %s of %s/%s is already served by %s/%s; ignored",
                route.method,
                route.resource,
                route.service.key,
                route.function.key,
                other.service.key,
                other.function.key,
            )
        else:
            seen[key] = route


def _shape(segments: tuple[str, ...]) -> str:
    """The path with parameter names erased ({a} and {b} are the same route)."""
    return "/".join("{+}" if s.endswith("+}") else "{}" if s.startswith("{") else s for s in segments)


def _match_segments(template: tuple[str, ...], parts: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Match one template; returns (rank, path parameters) where a lower rank is more specific."""
    params: dict[str, str] = {}
    rank: list[int] = []
    for index, segment in enumerate(template):
        if segment.startswith("{") and segment.endswith("+}"):
            rest = parts[index:]
            if not rest or index != len(template) - 1:
                return None
            params[segment[1:-2]] = "/".join(rest)
            rank.append(2)
            return tuple(rank), params
        if index >= len(parts):
            return None
        if segment.startswith("{") and segment.endswith("}"):
            if not parts[index]:
                return None
            params[segment[1:-1]] = parts[index]
            rank.append(1)
        elif segment == parts[index]:
            rank.append(0)
        else:
            return None
    if len(parts) != len(template):
        return None
    return tuple(rank), params


def cors_origins(cors: dict[str, Any]) -> list[str]:
    """The origins of a route's `cors:` (Serverless: `origins`, else `origin` split on commas, else '*')."""
    origins = cors.get("origins")
    if isinstance(origins, list) and origins:
        return [str(origin) for origin in origins]
    return [part.strip() for part in str(cors.get("origin") or "*").split(",") if part.strip()]


def resource_cors(routes: list[Route]) -> dict[str, Any] | None:
    """The OPTIONS method Serverless makes for one resource from its routes' `cors:` (None when no
    route of it has one): headers, methods and origins are the union, as in Serverless's validation."""
    merged: dict[str, Any] | None = None
    for route in routes:
        if not route.cors:
            continue
        cors: dict[str, Any] = {} if route.cors is True else dict(route.cors)  # type: ignore[arg-type]
        if merged is None:
            merged = {"headers": [], "methods": [], "origins": [], "allowCredentials": False}
        for name, values in (
            ("headers", cors.get("headers") or DEFAULT_CORS_HEADERS),
            ("origins", cors_origins(cors)),
            ("methods", [*(cors.get("methods") or []), "OPTIONS", route.method]),
        ):
            merged[name] += [value for value in values if value not in merged[name]]
        merged["allowCredentials"] = merged["allowCredentials"] or bool(cors.get("allowCredentials"))
        for name in ("maxAge", "cacheControl"):
            if cors.get(name):
                merged[name] = cors[name]
    if merged is not None and "ANY" in merged["methods"]:
        every = ["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"]
        merged["methods"] = [m for m in merged["methods"] if m != "ANY"] + every
    return merged


# What Serverless's `cors: true` allows (and its defaults for a `cors:` object without `headers`).
DEFAULT_CORS_HEADERS = (
    "Content-Type",
    "X-Amz-Date",
    "Authorization",
    "X-Api-Key",
    "X-Amz-Security-Token",
    "X-Amz-User-Agent",
    "X-Amzn-Trace-Id",
)


@dataclass
class Match:
    """The outcome of routing a request."""

    route: Route | None
    path_parameters: dict[str, str]
    allowed_methods: list[str]  # methods of the matched resource
    cors: dict[str, Any] | None = None  # the resource's CORS preflight, when its routes declare one
    service: ServiceConfig | None = None  # the API that has the resource


class Router:
    """API Gateway REST routing: literal segments beat {param}, which beats {proxy+}; METHOD beats ANY."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> Match:
        """Find the route for method + path (path as requested, without stage)."""
        parts = [part for part in path.strip("/").split("/")] if path.strip("/") else []
        best: tuple[tuple[int, ...], dict[str, str], tuple[str, ...]] | None = None
        for route in self.routes:
            result = _match_segments(route.segments, parts)
            if result is None:
                continue
            rank, params = result
            if best is None or rank < best[0]:
                best = (rank, params, route.segments)
        if best is None:
            return Match(route=None, path_parameters={}, allowed_methods=[])
        shape = _shape(best[2])
        candidates = [route for route in self.routes if _shape(route.segments) == shape]
        # Re-read parameters with each candidate's own names.
        allowed = sorted({route.method for route in candidates})
        chosen = next((route for route in candidates if route.method == method.upper()), None)
        chosen = chosen or next((route for route in candidates if route.method == "ANY"), None)
        if chosen is None:
            return Match(
                route=None,
                path_parameters={},
                allowed_methods=allowed,
                cors=resource_cors(candidates),
                service=candidates[0].service,
            )
        own = _match_segments(chosen.segments, parts)
        return Match(route=chosen, path_parameters=own[1] if own else best[1], allowed_methods=allowed)
