"""Webhooks: the events a shop subscribes to, their envelope, endpoints and delivery attempts."""

from __future__ import annotations

import hashlib
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model

from imagestore.bodies import Timestamp

# The events a tenant's endpoints may subscribe to. Each payload carries ids and links only: never
# image bytes, capability tokens or presigned URLs.
EventType = Literal[
    "order.placed",
    "order.resubmitted",
    "file.ready",
    "file.refused",
    "mobile_upload.file_added",
    "project.deleted",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
# Source of the EventBridge events that carry webhook events (detail-type: the event type).
EVENT_SOURCE = "imagestore.webhooks"
SECRET_PREFIX = "whsec_"


def event_id(tenant_id: str, event_type: str, subject: str) -> str:
    """A stable id: the same happening (type and subject, e.g. an order id) always has the same id, so a
    producer that emits it again (a retried request, a retried function) sends a duplicate a receiver
    recognises by its webhook-id."""
    digest = hashlib.sha256(f"{tenant_id}|{event_type}|{subject}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


class WebhookEvent(BaseModel):
    """What an endpoint receives as the JSON body (and EventBridge carries as detail)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^evt_[0-9a-f]{32}$")
    type: EventType
    timestamp: str = Field(description="ISO 8601 UTC time of the happening")
    tenantId: str
    data: dict[str, Any]


class SecretRecord(BaseModel):
    """One signing secret of an endpoint; a rotated-out one stays valid until expiresAt."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    secret: str
    createdAt: int
    expiresAt: int | None = None


class EndpointRecord(BaseModel):
    """A tenant's webhook endpoint as stored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tenantId: str
    endpointId: str
    url: str
    eventTypes: tuple[str, ...]
    description: str | None = None
    status: Literal["enabled", "disabled"] = "enabled"
    secrets: tuple[SecretRecord, ...]
    createdAt: int
    failingSince: int | None = None
    disabledAt: int | None = None

    def subscribed(self, event_type: str) -> bool:
        return self.status == "enabled" and event_type in self.eventTypes

    def signing_secrets(self, now: int) -> list[str]:
        """The secrets every delivery is signed with: the current one and any not yet expired."""
        return [s.secret for s in self.secrets if s.expiresAt is None or s.expiresAt > now]


class AttemptRecord(BaseModel):
    """One delivery attempt, kept for the tenant's delivery log."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    attemptId: str
    endpointId: str
    eventId: str
    eventType: str
    attempt: int
    at: int
    ok: bool
    status: int | None = None
    error: str | None = None
    latencyMs: int
    replay: bool = False


# --- payloads (the `data` of each event type), documented in the OpenAPI `webhooks` section -------------


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderLinks(_Data):
    order: str = Field(description="GET this order (the Project API)")


class FileLinks(_Data):
    file: str = Field(description="GET this file (the File API)")


class MobileUploadLinks(_Data):
    mobileUpload: str = Field(description="GET this mobile upload (the File API)")
    file: str = Field(description="GET the added file (the File API)")


class OrderPlacedData(_Data):
    orderId: str = Field(description="The order's id")
    externalOrderRef: str = Field(description="The shop's order reference")
    userId: str = Field(description="The user who placed it")
    itemCount: int = Field(description="How many lines it has")
    links: OrderLinks = Field(description="Where to read it")


class OrderResubmittedData(_Data):
    orderId: str = Field(description="The order's id")
    externalOrderRef: str = Field(description="The shop's order reference")
    userId: str = Field(description="The user who placed it")
    resubmissionId: str = Field(description="The resubmission's id")
    fileCount: int = Field(description="How many files the manifest lists")
    links: OrderLinks = Field(description="Where to read the order")


class FileReadyData(_Data):
    fileId: str = Field(description="The file's id")
    userId: str = Field(description="The user who uploaded it")
    links: FileLinks = Field(description="Where to read it")


class FileRefusedData(_Data):
    fileId: str = Field(description="The file's id")
    userId: str = Field(description="The user who uploaded it")
    code: str = Field(description="the refusal's error code, as complete answered it")
    message: str = Field(description="Why the bytes were refused, for people")
    links: FileLinks = Field(description="Where to read it")


class MobileUploadFileAddedData(_Data):
    mobileUploadId: str = Field(description="The mobile upload's id")
    fileId: str = Field(description="The added file's id")
    userId: str = Field(description="The user (the desktop's) the mobile upload belongs to")
    links: MobileUploadLinks = Field(description="Where to read them")


class ProjectDeletedData(_Data):
    projectId: str = Field(description="The deleted project's id")
    userId: str = Field(description="The user who deleted it")


DATA_MODELS: dict[str, type[BaseModel]] = {
    "order.placed": OrderPlacedData,
    "order.resubmitted": OrderResubmittedData,
    "file.ready": FileReadyData,
    "file.refused": FileRefusedData,
    "mobile_upload.file_added": MobileUploadFileAddedData,
    "project.deleted": ProjectDeletedData,
}


def _envelope(event_type: str, data: type[BaseModel]) -> type[BaseModel]:
    name = "".join(part.title() for part in event_type.replace("_", ".").split(".")) + "Event"
    return create_model(
        name,
        __config__=ConfigDict(extra="forbid"),
        id=(str, Field(pattern=r"^evt_[0-9a-f]{32}$", description="stable id, also the webhook-id header")),
        type=(Literal[event_type], Field(description="The event's type")),  # type: ignore[arg-type]
        timestamp=(Timestamp, Field(description="ISO 8601 UTC time of the happening")),
        tenantId=(str, Field(description="The shop (tenant) it happened in")),
        data=(data, Field(description="What happened: ids and links only")),
    )


# One model per event type: what the endpoint receives (the documented body of each webhook).
EVENT_MODELS: dict[str, type[BaseModel]] = {t: _envelope(t, model) for t, model in DATA_MODELS.items()}
