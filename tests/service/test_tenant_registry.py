"""The tenant registry's read path, in-process against moto: an entry put in the registry changes the
next upload's retention and the next QR page URL, a disabled tenant gets 403 with the error body, an
unknown tenant gets what Settings.unknown_tenants says, and entries are read once per cache period."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from imagestore.auth import Principal
from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.models.tenants import TenantRecord, TenantStatus
from tests.conftest import Aws
from tests.service.test_file_api import request_upload
from tests.support.events import api_event, call

SHOP = Principal("shop-r", "alice", "s1")
OTHER = Principal("shop-s", "alice", "s1")


def settings_changed() -> None:
    """The environment's settings read again, the registry's cache empty (the clients kept: aws.requests
    counts their calls)."""
    get_settings.cache_clear()
    factory.tenant_documents.cache_clear()


@pytest.fixture
def handlers(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("IMAGESTORE_TENANT_CACHE_SECONDS", "0")  # every call reads the registry
    settings_changed()
    from file_service.handlers import files, mobile_uploads, uploads
    from project_service.handlers import projects

    return {
        "uploads": uploads.handler,
        "files": files.handler,
        "mobile": mobile_uploads.handler,
        "projects": projects.handler,
    }


def register(tenant_id: str = "shop-r", **fields: Any) -> TenantRecord:
    record = TenantRecord.model_validate({"tenant_id": tenant_id, "display_name": "Shop R", **fields})
    factory.tenant_registry().put(record, int(time.time()))
    return record


def pending_file_lifetime(handlers: dict[str, Any], principal: Principal = SHOP) -> float:
    """Seconds from the new upload's creation to its expiry, as GET /files/{id} shows them."""
    status, ticket = request_upload(handlers["uploads"], principal)
    assert status == 201, ticket
    event = api_event("GET", "/files/{fileId}", principal=principal, path_params={"fileId": ticket["fileId"]})
    status, body = call(handlers["files"], event)
    assert status == 200, body
    return (datetime.fromisoformat(body["expiresAt"]) - datetime.fromisoformat(body["createdAt"])).total_seconds()


def test_a_registry_entry_changes_the_next_uploads_expiry_and_qr_url(aws: Aws, handlers: dict[str, Any]) -> None:
    assert pending_file_lifetime(handlers) == 6 * 3600  # not registered: the defaults
    register(
        settings={
            "session_retention_seconds": 7200,
            "mobile_upload_url_template": "https://shop-r.example/phone#t={token}",
        }
    )

    assert pending_file_lifetime(handlers) == 7200
    status, body = call(
        handlers["mobile"], api_event("POST", "/mobile-uploads", principal=SHOP, body={"retention": "session"})
    )
    assert status == 201, body
    assert body["url"] == f"https://shop-r.example/phone#t={body['token']}"
    assert pending_file_lifetime(handlers, OTHER) == 6 * 3600  # another tenant keeps the defaults


def test_a_disabled_tenant_is_refused_with_the_error_body(aws: Aws, handlers: dict[str, Any]) -> None:
    register()
    assert request_upload(handlers["uploads"], SHOP)[0] == 201
    factory.tenant_registry().set_status("shop-r", TenantStatus.DISABLED, int(time.time()))

    status, body = request_upload(handlers["uploads"], SHOP)
    assert (status, body["error"]["code"]) == (403, "tenant_disabled"), body
    status, body = call(handlers["projects"], api_event("GET", "/projects", principal=SHOP))
    assert (status, body["error"]["code"]) == (403, "tenant_disabled"), body
    assert request_upload(handlers["uploads"], OTHER)[0] == 201  # other tenants are not touched

    factory.tenant_registry().set_status("shop-r", TenantStatus.ACTIVE, int(time.time()))
    assert request_upload(handlers["uploads"], SHOP)[0] == 201
    stored = aws.item("TENANTS", "TENANT#shop-r")
    assert stored is not None and stored["status"] == "active" and stored["entity"] == "tenant"


def test_unknown_tenants_get_defaults_or_are_refused_as_the_stage_says(
    aws: Aws, handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert request_upload(handlers["uploads"], SHOP)[0] == 201  # the default: defaults
    monkeypatch.setenv("IMAGESTORE_UNKNOWN_TENANTS", "refuse")
    settings_changed()
    status, body = request_upload(handlers["uploads"], SHOP)
    assert (status, body["error"]["code"]) == (403, "unknown_tenant"), body
    register()
    assert request_upload(handlers["uploads"], SHOP)[0] == 201


def test_an_entry_is_read_once_per_cache_period(
    aws: Aws, handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGESTORE_TENANT_CACHE_SECONDS", "60")
    settings_changed()
    register(settings={"session_retention_seconds": 7200})
    assert pending_file_lifetime(handlers) == 7200
    register(settings={"session_retention_seconds": 3600})
    aws.requests.reset()
    assert pending_file_lifetime(handlers) == 7200  # still the cached entry, within its 60 s
    assert aws.requests.calls["dynamodb.GetItem"] == 1, aws.requests.calls  # the file's GET only
    factory.tenant_documents().clear_cache()  # what the passing of 60 s does
    assert pending_file_lifetime(handlers) == 3600


def test_an_unknown_tenant_is_cached_too(aws: Aws, handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGESTORE_TENANT_CACHE_SECONDS", "60")
    settings_changed()
    assert request_upload(handlers["uploads"], SHOP)[0] == 201
    aws.requests.reset()
    assert request_upload(handlers["uploads"], SHOP)[0] == 201
    assert aws.requests.calls["dynamodb.GetItem"] == 0, aws.requests.calls
