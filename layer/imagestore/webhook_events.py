"""The webhook events producers write: one builder per type, each a small payload of ids and links (never
image bytes, capability tokens or presigned URLs). Each id is stable (imagestore.models.webhooks.event_id).
A producer writes its events into the event log in the same transaction as the change they report (the
data stores' `events=` arguments, imagestore.data.webhooks.event_log_item); the webhookRelay function
puts them on the bus from the table's stream."""

from __future__ import annotations

from typing import Any

from imagestore.clock import from_epoch, iso
from imagestore.config import get_settings
from imagestore.models.webhooks import DATA_MODELS, WebhookEvent, event_id


def _event(tenant_id: str, event_type: str, subject: str, at: int, data: dict[str, Any]) -> WebhookEvent:
    DATA_MODELS[event_type].model_validate(data)  # the documented payload, exactly
    return WebhookEvent(
        id=event_id(tenant_id, event_type, subject),
        type=event_type,  # type: ignore[arg-type]
        timestamp=iso(from_epoch(at)),
        tenantId=tenant_id,
        data=data,
    )


def _link(path: str) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}{path}"


def order_placed(
    tenant_id: str, user_id: str, order_id: str, external_order_ref: str, item_count: int, at: int
) -> WebhookEvent:
    return _event(
        tenant_id,
        "order.placed",
        order_id,
        at,
        {
            "orderId": order_id,
            "externalOrderRef": external_order_ref,
            "userId": user_id,
            "itemCount": item_count,
            "links": {"order": _link(f"/orders/{order_id}")},
        },
    )


def order_resubmitted(
    tenant_id: str, user_id: str, order_id: str, external_order_ref: str, resubmission_id: str, file_count: int, at: int
) -> WebhookEvent:
    return _event(
        tenant_id,
        "order.resubmitted",
        resubmission_id,
        at,
        {
            "orderId": order_id,
            "externalOrderRef": external_order_ref,
            "userId": user_id,
            "resubmissionId": resubmission_id,
            "fileCount": file_count,
            "links": {"order": _link(f"/orders/{order_id}")},
        },
    )


def file_ready(tenant_id: str, user_id: str, file_id: str, at: int) -> WebhookEvent:
    return _event(
        tenant_id,
        "file.ready",
        file_id,
        at,
        {"fileId": file_id, "userId": user_id, "links": {"file": _link(f"/files/{file_id}")}},
    )


def file_refused(
    tenant_id: str, user_id: str, file_id: str, code: str, message: str, refused_etag: str, at: int
) -> WebhookEvent:
    """Per refused upload (its object's ETag): both refusers of one upload send the same id."""
    return _event(
        tenant_id,
        "file.refused",
        f"{file_id}|{refused_etag}",
        at,
        {
            "fileId": file_id,
            "userId": user_id,
            "code": code,
            "message": message[:300],
            "links": {"file": _link(f"/files/{file_id}")},
        },
    )


def mobile_upload_file_added(
    tenant_id: str, user_id: str, mobile_upload_id: str, file_id: str, at: int
) -> WebhookEvent:
    return _event(
        tenant_id,
        "mobile_upload.file_added",
        f"{mobile_upload_id}|{file_id}",
        at,
        {
            "mobileUploadId": mobile_upload_id,
            "fileId": file_id,
            "userId": user_id,
            "links": {"mobileUpload": _link(f"/mobile-uploads/{mobile_upload_id}"), "file": _link(f"/files/{file_id}")},
        },
    )


def project_deleted(tenant_id: str, user_id: str, project_id: str, at: int) -> WebhookEvent:
    return _event(tenant_id, "project.deleted", project_id, at, {"projectId": project_id, "userId": user_id})
