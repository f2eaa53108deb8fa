"""Settings parsed once from the environment; per-tenant settings with defaults."""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

DEFAULT_ALLOWED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic")


class TenantSettings(BaseModel):
    """Limits and retention periods of one tenant (a white-label shop)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_upload_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    allowed_types: tuple[str, ...] = DEFAULT_ALLOWED_TYPES
    max_pixels: int = Field(default=100_000_000, gt=0)
    session_retention_seconds: int = Field(default=6 * 3600, gt=0)
    extended_retention_seconds: int = Field(default=30 * 86400, gt=0)
    project_retention_seconds: int = Field(default=365 * 86400, gt=0)
    cart_retention_seconds: int = Field(default=30 * 86400, gt=0)
    order_retention_seconds: int = Field(default=180 * 86400, gt=0)
    share_max_days: int = Field(default=90, gt=0)
    mobile_upload_link_seconds: int = Field(default=3600, gt=0)
    mobile_upload_max_files: int = Field(default=50, gt=0)
    mobile_upload_max_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    mobile_upload_url_template: str | None = None
    share_url_template: str | None = None
    upload_url_seconds: int = Field(default=900, gt=0)
    download_url_seconds: int = Field(default=900, gt=0)
    # The shop's own web origins (as the stage's corsOrigins: one `*` for any text); when set, only
    # these may read this tenant's answers in a browser. They must also match the stage's corsOrigins,
    # which API Gateway's preflight checks before any tenant is known.
    cors_origins: tuple[str, ...] | None = None
    # GET /files/{fileId}/print-check: at or above print_good_dpi "good", at or above
    # print_acceptable_dpi "acceptable", below it "low".
    print_good_dpi: float = Field(default=300.0, gt=0)
    print_acceptable_dpi: float = Field(default=150.0, gt=0)

    @model_validator(mode="after")
    def _dpi_order(self) -> TenantSettings:
        if self.print_acceptable_dpi > self.print_good_dpi:
            raise ValueError("print_acceptable_dpi must not be above print_good_dpi")
        return self


def link_from_template(template: str, public_base_url: str, token: str) -> str:
    """A link a tenant's template makes (share_url_template, mobile_upload_url_template): its
    {public_base_url} (without a trailing slash) and {token} filled in, in one pass; any other text,
    braces included, is left as it is."""
    values = {"public_base_url": public_base_url.rstrip("/"), "token": token}
    return re.sub(r"\{(public_base_url|token)\}", lambda match: values[match.group(1)], template)


class Settings(BaseModel):
    """Process-wide settings, read from IMAGESTORE_* environment variables."""

    model_config = ConfigDict(frozen=True)

    stage: str = "local"
    table_name: str = "imagestore-local"
    bucket_name: str = "imagestore-local-images"
    public_base_url: str = "http://127.0.0.1:3000"
    jwt_secret: str | None = None
    jwt_public_keys: tuple[str, ...] = ()
    jwt_issuer: str = "imagestore-local"
    jwt_audience: str = "imagestore"
    # A token whose exp is further than this from now is refused: a leaked token stops working.
    jwt_max_lifetime_seconds: int = Field(default=24 * 3600, gt=0)
    # Partitions of the expiry index. Sized from the table's write quota, so that the index is never
    # the binding limit of creates: an acquire or release writes 1 unit into the table and at most 1
    # into one shard, so at the table's quota Q WCU/s the shards take at most Q WCU/s together, and
    # ceil(Q x skew / 500) shards keep the busiest under 500 WCU/s (half a partition). 96 covers the
    # default quota of 40,000 WCU/s (skew 1.2); raise it with the quota (more only: never fewer, an
    # entry filed under a shard the sweep no longer reads would be stranded). docs/benchmarks.md.
    expiry_shards: int = Field(default=96, gt=0, le=1000)
    event_bus_name: str = "default"
    tenant_overrides: dict[str, dict[str, object]] = Field(default_factory=dict)
    # Browser origins allowed by the stage (IMAGESTORE_CORS_ORIGINS, comma-separated): none by default.
    cors_origins: tuple[str, ...] = ()
    # The named usage plans the stage deploys, each with an API key of its own (IMAGESTORE_USAGE_PLANS,
    # comma-separated); a tenant's plan is its registry entry's usage_plan.
    usage_plans: frozenset[str] = frozenset()
    # Each plan's limits, "" for the tenants on none: {"rateLimit", "burstLimit", "quotaPerDay"}
    # (IMAGESTORE_USAGE_PLAN_LIMITS, JSON, written by deploy/usage-plans.js): the authorizer states them
    # as the answers' RateLimit-Policy (imagestore.ratelimit).
    usage_plan_limits: dict[str, dict[str, float]] = Field(default_factory=dict)
    # The tenant registry (imagestore.tenants): how long an execution environment keeps a tenant's
    # entry before reading it again, and what a tenant that is not in it gets: "defaults" (its
    # settings from tenant_overrides or the defaults; the local stack and the tests) or "refuse"
    # (403 unknown_tenant; every deployed stage, serverless.yml's unknownTenants param).
    tenant_cache_seconds: int = Field(default=60, ge=0, le=3600)
    unknown_tenants: Literal["defaults", "refuse"] = "defaults"
    # Webhooks: the delivery queue (set for the functions that send to it), the first retry's delay
    # (each next one 3x longer, at most 12 h: SQS's longest visibility timeout), and how long an endpoint
    # may fail without one success before it is disabled.
    webhook_queue_url: str = ""
    webhook_retry_base_seconds: int = Field(default=30, gt=0, le=43200)
    webhook_disable_after_seconds: int = Field(default=5 * 86400, gt=0)
    _tenants: dict[str, TenantSettings] = PrivateAttr(default_factory=dict)

    @field_validator("jwt_public_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            marker = "-----END PUBLIC KEY-----"
            return tuple(part.strip() + "\n" + marker for part in value.split(marker) if part.strip())
        return value

    @field_validator("usage_plans", mode="before")
    @classmethod
    def _split_plans(cls, value: object) -> object:
        return frozenset(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("usage_plan_limits", mode="before")
    @classmethod
    def _parse_policies(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) and value else value or {}

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("tenant_overrides", mode="before")
    @classmethod
    def _parse_overrides(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) and value else value or {}

    def tenant(self, tenant_id: str) -> TenantSettings:
        """The settings of a tenant the registry does not have: defaults, overridden by
        IMAGESTORE_TENANT_SETTINGS[tenant_id] (the local stack's and the tests' way; no template sets it).
        Functions read a tenant's settings through imagestore.tenants.tenant_settings."""
        cached = self._tenants.get(tenant_id)
        if cached is None:
            try:
                cached = TenantSettings(**self.tenant_overrides.get(tenant_id, {}))  # type: ignore[arg-type]
            except ValidationError as exc:
                raise ConfigurationError(f"invalid settings for tenant {tenant_id}: {exc}") from exc
            self._tenants[tenant_id] = cached
        return cached


_ENV = {
    "stage": "IMAGESTORE_STAGE",
    "table_name": "IMAGESTORE_TABLE_NAME",
    "bucket_name": "IMAGESTORE_BUCKET_NAME",
    "public_base_url": "IMAGESTORE_PUBLIC_BASE_URL",
    "jwt_secret": "IMAGESTORE_JWT_SECRET",
    "jwt_public_keys": "IMAGESTORE_JWT_PUBLIC_KEYS",
    "jwt_issuer": "IMAGESTORE_JWT_ISSUER",
    "jwt_audience": "IMAGESTORE_JWT_AUDIENCE",
    "jwt_max_lifetime_seconds": "IMAGESTORE_JWT_MAX_LIFETIME_SECONDS",
    "expiry_shards": "IMAGESTORE_EXPIRY_SHARDS",
    "event_bus_name": "IMAGESTORE_EVENT_BUS_NAME",
    "tenant_overrides": "IMAGESTORE_TENANT_SETTINGS",
    "cors_origins": "IMAGESTORE_CORS_ORIGINS",
    "usage_plans": "IMAGESTORE_USAGE_PLANS",
    "usage_plan_limits": "IMAGESTORE_USAGE_PLAN_LIMITS",
    "tenant_cache_seconds": "IMAGESTORE_TENANT_CACHE_SECONDS",
    "unknown_tenants": "IMAGESTORE_UNKNOWN_TENANTS",
    "webhook_queue_url": "IMAGESTORE_WEBHOOK_QUEUE_URL",
    "webhook_retry_base_seconds": "IMAGESTORE_WEBHOOK_RETRY_BASE_SECONDS",
    "webhook_disable_after_seconds": "IMAGESTORE_WEBHOOK_DISABLE_AFTER_SECONDS",
}


class ConfigurationError(RuntimeError):
    """The environment does not describe a valid configuration."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, parsed once per process."""
    raw = {field: os.environ[var] for field, var in _ENV.items() if os.environ.get(var)}
    try:
        return Settings(**raw)  # type: ignore[arg-type]
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"invalid imagestore configuration: {exc}") from exc


def clock_offset_seconds() -> float:
    """The local stack's clock offset (IMAGESTORE_CLOCK_OFFSET_SECONDS); zero in AWS."""
    value = os.environ.get("IMAGESTORE_CLOCK_OFFSET_SECONDS")
    return float(value) if value else 0.0


def sdk_tracing_disabled() -> bool:
    """POWERTOOLS_TRACE_DISABLED, read as Powertools reads it: no X-Ray SDK subsegments."""
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "y", "yes", "t", "true", "on")
