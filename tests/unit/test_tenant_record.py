"""The tenant registry's model: what a valid document is, what is refused (with the field named), and
how a record round-trips through its item."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from imagestore import keys
from imagestore.models.tenants import TenantRecord, TenantStatus


def problems(document: dict[str, object]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        TenantRecord.model_validate(document)
    return [".".join(str(p) for p in error["loc"]) for error in caught.value.errors()]


def test_a_minimal_document_has_the_defaults() -> None:
    record = TenantRecord.model_validate({"tenant_id": "shop-a", "display_name": "Shop A"})
    assert record.status is TenantStatus.ACTIVE and record.active and record.usage_plan is None
    assert record.settings.session_retention_seconds == 6 * 3600


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"display_name": "x"}, "tenant_id"),
        ({"tenant_id": "a/b", "display_name": "x"}, "tenant_id"),
        ({"tenant_id": "a#b", "display_name": "x"}, "tenant_id"),
        ({"tenant_id": "a", "display_name": ""}, "display_name"),
        ({"tenant_id": "a", "display_name": "x", "status": "paused"}, "status"),
        ({"tenant_id": "a", "display_name": "x", "usage_plan": "gold plan"}, "usage_plan"),
        ({"tenant_id": "a", "display_name": "x", "retention": 3}, "retention"),
        (
            {"tenant_id": "a", "display_name": "x", "settings": {"session_retention_seconds": 0}},
            "settings.session_retention_seconds",
        ),
        (
            {"tenant_id": "a", "display_name": "x", "settings": {"session_retention": 7200}},
            "settings.session_retention",
        ),
    ],
)
def test_a_bad_document_is_refused_with_its_field_named(document: dict[str, object], field: str) -> None:
    assert field in problems(document)


def test_a_record_round_trips_through_its_item() -> None:
    record = TenantRecord.model_validate(
        {
            "tenant_id": "shop-a",
            "display_name": "Shop A",
            "status": "disabled",
            "usage_plan": "gold",
            "settings": {"session_retention_seconds": 7200, "share_url_template": "https://a.example/s/{token}"},
        }
    )
    item = record.to_item(1_700_000_000)
    assert {"pk": item["pk"], "sk": item["sk"]} == keys.tenant_registry_key("shop-a")
    assert keys.tenant_registry_key("shop-a") == {"pk": "TENANTS", "sk": "TENANT#shop-a"}
    assert item["status"] == "disabled" and item["entity"] == "tenant" and item["updated_at"] == 1_700_000_000
    # The stored document names only what differs from the defaults.
    assert json.loads(item["document"]) == {
        "tenant_id": "shop-a",
        "display_name": "Shop A",
        "status": "disabled",
        "usage_plan": "gold",
        "settings": {"session_retention_seconds": 7200, "share_url_template": "https://a.example/s/{token}"},
    }
    assert TenantRecord.from_document(item["document"]) == record
