"""Request and response bodies of the Project API."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, StrictInt, field_validator

from imagestore.bodies import ApiModel
from imagestore.clock import from_epoch, iso
from imagestore.errors import PayloadTooLarge
from imagestore.models.cart_items import CartItemRecord
from imagestore.models.files import PreviewStatus
from imagestore.models.holds import FileRef
from imagestore.models.orders import OrderLine
from imagestore.models.projects import ProjectRecord
from imagestore.models.webhooks import EVENT_TYPES as WEBHOOK_EVENT_TYPES
from imagestore.models.webhooks import EventType
from imagestore.preview_views import PreviewView

MAX_FILES_PER_PROJECT = 2000
# A project's document, as compact JSON with non-ASCII escaped (as every response carries it), is at
# most 1 MiB.
MAX_DOCUMENT_BYTES = 1024 * 1024
# Answers list a project's (a share's, an order's) files a page at a time: a file entry is up to about
# 14 KB (a 255-character filename of emoji: 3 KB escaped in JSON, 5 KB percent-encoded twice in its
# download URL; three presigned URLs, each with the function's session token), so a page of 200 and a
# document of 1 MiB stay well under Lambda's 6 MB response limit (tests/service/test_answer_sizes.py).
# An order's documents are not inlined but linked (documentUrl): 25 of 1 MiB would not fit.
FILES_PAGE_SIZE = 200


class ProjectInput(ApiModel):
    name: str = Field(min_length=1, max_length=200)
    product_type: str = Field(min_length=1, max_length=100)
    document: Any = Field(default_factory=dict)
    file_ids: list[str] = Field(default_factory=list, max_length=MAX_FILES_PER_PROJECT)

    @field_validator("document")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        """413 (not 400: raised as it is through pydantic) for a document over MAX_DOCUMENT_BYTES."""
        size = len(json.dumps(value, separators=(",", ":")))
        if size > MAX_DOCUMENT_BYTES:
            raise PayloadTooLarge(
                f"the document is {size} bytes as JSON, over the limit of {MAX_DOCUMENT_BYTES}",
                details={"maxDocumentBytes": MAX_DOCUMENT_BYTES, "documentBytes": size},
            )
        return value

    @field_validator("file_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class ProjectFileView(ApiModel):
    file_id: str
    filename: str
    content_type: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    download_url: str
    preview_status: Literal["pending", "ready", "failed"] = "pending"
    # thumb, screen: signed whatever previewStatus (pending: they answer 404 until made), none when failed
    previews: dict[str, PreviewView] | None = None
    taken_at: str | None = None
    added_by: str | None = Field(
        default=None, description="the user whose upload this file is (the owner, or the member who added it)"
    )

    @classmethod
    def of(
        cls,
        ref: FileRef,
        download_url: str,
        previews: dict[str, PreviewView] | None = None,
        preview_status: PreviewStatus | None = None,
    ) -> ProjectFileView:
        return cls(
            file_id=ref.file_id,
            filename=ref.filename,
            content_type=ref.content_type,
            size_bytes=ref.size_bytes,
            width=ref.width,
            height=ref.height,
            download_url=download_url,
            preview_status=(preview_status or ref.preview_status).value,
            previews=previews,
            taken_at=ref.taken_at,
            added_by=ref.owner_id,
        )


class ProjectSummary(ApiModel):
    project_id: str
    name: str
    product_type: str
    version: int
    created_at: str
    saved_at: str
    expires_at: str
    file_count: int
    role: str = Field(
        default="owner", description="the caller's role: owner, editor, commenter or viewer (invited with)"
    )
    owner_id: str | None = Field(default=None, description="the project's owner (a member sees whose project it is)")

    @classmethod
    def of(cls, record: ProjectRecord, role: str | None = "owner") -> ProjectSummary:
        return cls(
            role=role or "viewer",
            owner_id=record.user_id,
            project_id=record.project_id,
            name=record.name,
            product_type=record.product_type,
            version=record.version,
            created_at=iso(from_epoch(record.created_at)),
            saved_at=iso(from_epoch(record.saved_at)),
            expires_at=iso(from_epoch(record.expires_at)),
            file_count=record.file_count,
        )


class ProjectView(ProjectSummary):
    document: Any
    files: list[ProjectFileView]  # at most FILES_PAGE_SIZE, in the version's order
    files_next_cursor: str | None = None  # the next page: GET with ?filesCursor=; None on the last


class ProjectPage(ApiModel):
    items: list[ProjectSummary]
    next_cursor: str | None


class ShareInput(ApiModel):
    mode: Literal["view", "copy"]
    expires_in_days: StrictInt = Field(default=7, gt=0)


class ShareCreated(ApiModel):
    share_id: str
    token: str
    url: str
    mode: str
    expires_at: str


class ShareView(ApiModel):
    """A share as its project's owner lists it (its token is shown once, when it is created: only its
    hash is stored)."""

    share_id: str
    mode: Literal["view", "copy"]
    created_at: str
    expires_at: str


class SharePage(ApiModel):
    items: list[ShareView]
    next_cursor: str | None


class SharedProjectView(ApiModel):
    share_id: str
    mode: str
    expires_at: str
    project: ProjectView


# Ids and references that end up inside table keys: no separators ('#', '/'), bounded length.
SAFE_REFERENCE = r"^[A-Za-z0-9._:@+-]{1,128}$"
MAX_CART_ITEMS_PER_ORDER = 25


class CartItemInput(ApiModel):
    project_id: str | None = None
    product_sku: str = Field(min_length=1, max_length=100)
    quantity: StrictInt = Field(gt=0, le=10_000)
    external_cart_id: str | None = Field(default=None, pattern=SAFE_REFERENCE)


class CartItemView(ApiModel):
    cart_item_id: str
    user_id: str
    product_sku: str
    quantity: int
    project_id: str | None
    project_version: int | None
    external_cart_id: str | None
    file_count: int
    created_at: str
    expires_at: str

    @classmethod
    def of(cls, record: CartItemRecord) -> CartItemView:
        return cls(
            cart_item_id=record.cart_item_id,
            user_id=record.user_id,
            product_sku=record.product_sku,
            quantity=record.quantity,
            project_id=record.project_id,
            project_version=record.project_version,
            external_cart_id=record.external_cart_id,
            file_count=record.file_count,
            created_at=iso(from_epoch(record.created_at)),
            expires_at=iso(from_epoch(record.expires_at)),
        )


class CartItemPage(ApiModel):
    items: list[CartItemView]
    next_cursor: str | None


class OrderInput(ApiModel):
    cart_item_ids: list[str] = Field(min_length=1, max_length=MAX_CART_ITEMS_PER_ORDER)
    external_order_ref: str = Field(pattern=SAFE_REFERENCE)

    @field_validator("cart_item_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class OrderLineView(ApiModel):
    cart_item_id: str
    product_sku: str
    quantity: int
    project_id: str | None
    project_version: int | None

    @classmethod
    def of(cls, line: OrderLine) -> OrderLineView:
        return cls(
            cart_item_id=line.cart_item_id,
            product_sku=line.product_sku,
            quantity=line.quantity,
            project_id=line.project_id,
            project_version=line.project_version,
        )


class OrderProjectView(ApiModel):
    project_id: str
    version: int
    name: str
    product_type: str
    document_url: str  # the frozen document (JSON), presigned for the tenant's download_url_seconds
    file_count: int
    files: list[ProjectFileView]  # those of this page (the order's files in order, FILES_PAGE_SIZE a page)


class OrderView(ApiModel):
    order_id: str
    external_order_ref: str
    status: str
    created_at: str
    expires_at: str
    items: list[OrderLineView]
    projects: list[OrderProjectView]
    files_next_cursor: str | None = None  # the next page of files: GET /orders/{id}?filesCursor=


class OrderSummary(ApiModel):
    """An order as GET /orders lists it: its lines, without the frozen projects (GET /orders/{orderId})."""

    order_id: str
    external_order_ref: str
    status: str
    created_at: str
    expires_at: str
    file_count: int
    items: list[OrderLineView]


class OrderPage(ApiModel):
    items: list[OrderSummary]
    next_cursor: str | None


class ManifestEntry(ApiModel):
    file_id: str
    filename: str
    content_type: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    url: str


class ManifestDocument(ApiModel):
    project_id: str
    version: int
    url: str


class ResubmissionView(ApiModel):
    resubmission_id: str
    order_id: str
    external_order_ref: str
    manifest: list[ManifestEntry] = Field(
        description="the order's files; in an answer at most the first 500 (all of them at manifestUrl)"
    )
    documents: list[ManifestDocument]
    expires_at: str
    file_count: int = Field(description="how many files the whole manifest lists")
    manifest_complete: bool = Field(description="whether `manifest` lists every file (else fetch manifestUrl)")
    manifest_url: str | None = Field(
        default=None, description="presigned GET of the whole manifest (this object, every file) until expiresAt"
    )


# --- webhooks ---------------------------------------------------------------------------------------


class WebhookEndpointInput(ApiModel):
    url: str = Field(min_length=8, max_length=2048, description="https URL that receives the events (POST)")
    event_types: list[EventType] = Field(
        default_factory=lambda: list(WEBHOOK_EVENT_TYPES),
        min_length=1,
        max_length=len(WEBHOOK_EVENT_TYPES),
        description="the events to send; all when absent",
    )
    description: str | None = Field(default=None, max_length=200)

    @field_validator("event_types")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class WebhookEndpointView(ApiModel):
    endpoint_id: str
    url: str
    event_types: list[str]
    description: str | None = None
    status: Literal["enabled", "disabled"]
    created_at: str
    failing_since: str | None = None
    disabled_at: str | None = None


class WebhookEndpointCreated(WebhookEndpointView):
    secret: str = Field(description="whsec_ signing secret (Standard Webhooks); shown only here and on rotation")


class WebhookEndpointPage(ApiModel):
    items: list[WebhookEndpointView]


class SecretRotationView(ApiModel):
    secret: str = Field(description="the new whsec_ secret, used from now on")
    previous_secret_expires_at: str = Field(description="until then every delivery is also signed with the old one")


class WebhookAttemptView(ApiModel):
    attempt_id: str
    event_id: str
    event_type: str
    attempt: int = Field(description="1 for the first delivery of a message, then each retry")
    at: str
    ok: bool
    status: int | None = Field(default=None, description="the endpoint's HTTP status, when it answered")
    error: str | None = None
    latency_ms: int
    replay: bool


class WebhookAttemptPage(ApiModel):
    items: list[WebhookAttemptView]


class WebhookReplayInput(ApiModel):
    event_id: str | None = Field(default=None, pattern=r"^evt_[0-9a-f]{32}$")
    since: str | None = Field(default=None, description="ISO 8601 start of a time range (with until)")
    until: str | None = Field(default=None, description="ISO 8601 end of the time range; now when absent")


class WebhookReplayView(ApiModel):
    queued: int = Field(description="events queued for delivery again, with their ids unchanged")
    event_ids: list[str]
    truncated: bool = Field(description="true when the range holds more events than one replay sends (100)")


# --- collaboration (docs/collaboration.md) ---------------------------------------------------------
ROLE_FIELD = Field(description="editor (saves, adds own photos, comments), commenter (comments) or viewer")


class InviteInput(ApiModel):
    role: Literal["editor", "commenter", "viewer"] = ROLE_FIELD
    expires_in_days: StrictInt = Field(default=7, gt=0, description="days the link works (capped by the tenant)")


class InviteCreated(ApiModel):
    invite_id: str = Field(description="id of the invite (to revoke it)")
    token: str = Field(description="the capability token (shown once: only its hash is stored)")
    url: str = Field(description="the link to send (the tenant's template, or this API's accept route)")
    role: str = Field(description="the role accepting it gives")
    expires_at: str = Field(description="when the link stops working")


class InviteView(ApiModel):
    invite_id: str = Field(description="id of the invite")
    role: str = Field(description="the role accepting it gives")
    created_at: str = Field(description="when it was made")
    expires_at: str = Field(description="when the link stops working")


class InvitePage(ApiModel):
    items: list[InviteView] = Field(description="the project's unexpired, unused invites")
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class MemberView(ApiModel):
    project_id: str = Field(description="the project")
    user_id: str = Field(description="the member")
    role: str = Field(description="editor, commenter or viewer")
    joined_at: str = Field(description="when they accepted their invite")
    invited_by: str = Field(description="the user whose invite they accepted (the owner)")


class MemberPage(ApiModel):
    owner_id: str = Field(description="the project's owner (not listed among the members)")
    items: list[MemberView] = Field(description="members, by user id")
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class RoleInput(ApiModel):
    role: Literal["editor", "commenter", "viewer"] = ROLE_FIELD


class CommentInput(ApiModel):
    text: str = Field(min_length=1, description="plain text, at most 4,096 bytes as UTF-8 (no control characters)")
    anchor: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:-]{1,200}$",
        description="an element of the document the comment is about (an id the client chose)",
    )


class CommentUpdate(ApiModel):
    text: str | None = Field(default=None, min_length=1, description="the author's new text (author only)")
    resolved: bool | None = Field(default=None, description="resolve (true) or reopen (false): an editor or the owner")


class CommentView(ApiModel):
    comment_id: str = Field(description="id of the comment (time-ordered)")
    project_id: str = Field(description="the project")
    author_id: str = Field(description="who wrote it")
    text: str = Field(description="plain text: show it as text, never as HTML")
    anchor: str | None = Field(default=None, description="the element of the document it is about, if any")
    created_at: str = Field(description="when it was written")
    edited_at: str | None = Field(default=None, description="when its author last changed it")
    resolved_at: str | None = Field(default=None, description="when it was resolved; null while open")
    resolved_by: str | None = Field(default=None, description="who resolved it")


class CommentPage(ApiModel):
    items: list[CommentView] = Field(description="comments, newest first")
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class ActivityView(ApiModel):
    kind: Literal["saved", "joined", "left", "removed", "role_changed", "commented"] = Field(
        description="what happened"
    )
    user_id: str = Field(description="who did it")
    at: str = Field(description="when")
    version: int | None = Field(default=None, description="a save: the version it made")
    files_added: int | None = Field(default=None, description="a save: files the project did not have before")
    files_removed: int | None = Field(default=None, description="a save: files it no longer has")
    subject_id: str | None = Field(default=None, description="a removal or role change: the member concerned")
    role: str | None = Field(default=None, description="a join or role change: the role")
    comment_id: str | None = Field(default=None, description="a comment: its id")


class ActivityPage(ApiModel):
    items: list[ActivityView] = Field(description="what happened after `since`, oldest first")
    next_cursor: str | None = Field(description="pass as cursor for what follows; null when there is no more now")
