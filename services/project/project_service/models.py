"""Request and response bodies of the Project API."""

from __future__ import annotations

import json
from typing import Any, Literal, cast

from pydantic import Field, StrictInt, field_validator

from imagestore.bodies import ApiModel, Timestamp
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
    name: str = Field(min_length=1, max_length=200, description="The project's name, for people")
    product_type: str = Field(
        min_length=1, max_length=100, description="The shop's product the project is for (`photobook-a4`...)"
    )
    document: Any = Field(
        default_factory=dict,
        description="The editor's document, any JSON the shop's editor writes (at most 1 MiB as compact JSON); "
        "stored and answered as it is",
    )
    file_ids: list[str] = Field(
        default_factory=list,
        max_length=MAX_FILES_PER_PROJECT,
        description=f"The caller's available files the project uses (at most {MAX_FILES_PER_PROJECT}; repeats "
        "count once): the project holds them while it lives",
    )

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
    file_id: str = Field(description="The file's id")
    filename: str = Field(description="The name it was uploaded with")
    content_type: str = Field(description="Its image type")
    size_bytes: int = Field(description="Its size in bytes")
    width: int | None = Field(default=None, description="Its width in pixels")
    height: int | None = Field(default=None, description="Its height in pixels")
    download_url: str = Field(description="A short-lived presigned GET of the bytes")
    preview_status: Literal["pending", "ready", "failed"] = Field(
        default="pending", description="Whether its previews are made"
    )
    # thumb, screen: signed whatever previewStatus (pending: they answer 404 until made), none when failed
    previews: dict[str, PreviewView] | None = Field(
        default=None,
        description="Its previews by name (`thumb`, `screen`), signed whatever previewStatus (while pending they "
        "answer 404 until made); null when failed",
    )
    taken_at: str | None = Field(
        default=None,
        description="When the photo was taken, as its EXIF says: ISO 8601 local time, with the UTC offset when "
        "EXIF records one",
    )
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


# The caller's role in a project: its owner, or a member's role (imagestore.models.collaboration.Role).
ProjectRole = Literal["owner", "editor", "commenter", "viewer"]


class ProjectSummary(ApiModel):
    project_id: str = Field(description="The project's id")
    name: str = Field(description="The project's name")
    product_type: str = Field(description="The shop's product the project is for")
    version: int = Field(description="Its version, 1 at creation and one more at every save (the ETag's value)")
    created_at: Timestamp = Field(description="When it was created")
    saved_at: Timestamp = Field(description="When this version was saved")
    expires_at: Timestamp = Field(description="When it is deleted unless saved again (each save extends it)")
    file_count: int = Field(description="How many files this version holds")
    role: ProjectRole = Field(
        default="owner", description="the caller's role: owner, editor, commenter or viewer (invited with)"
    )
    owner_id: str | None = Field(default=None, description="the project's owner (a member sees whose project it is)")

    @classmethod
    def of(cls, record: ProjectRecord, role: str | None = "owner") -> ProjectSummary:
        return cls(
            role=cast(ProjectRole, role or "viewer"),  # "owner" or a member's Role
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
    document: Any = Field(description="The editor's document of this version, as it was saved")
    # at most FILES_PAGE_SIZE, in the version's order
    files: list[ProjectFileView] = Field(
        description=f"A page of the version's files (at most {FILES_PAGE_SIZE}), in the order of `fileIds`"
    )
    # the next page: GET with ?filesCursor=; None on the last
    files_next_cursor: str | None = Field(
        default=None, description="Send as `filesCursor` for the next page of files; null on the last"
    )


class ProjectPage(ApiModel):
    items: list[ProjectSummary] = Field(description="This page of projects, last saved first")
    next_cursor: str | None = Field(description="Send as `cursor` for the next page; null on the last")


class ShareInput(ApiModel):
    mode: Literal["view", "copy"] = Field(
        description="`view`: the link shows the project; `copy`: it also lets another user make their own copy"
    )
    expires_in_days: StrictInt = Field(default=7, gt=0, description="How many days the link works (7 when absent)")


class ShareCreated(ApiModel):
    share_id: str = Field(description="The share's id (to list or revoke it)")
    token: str = Field(description="The link's capability token (a secret, shown only here; only its hash is stored)")
    url: str = Field(description="The link to send, with the token (the tenant's share page)")
    mode: Literal["view", "copy"] = Field(description="What the link allows")
    expires_at: Timestamp = Field(description="When the link stops working")


class ShareView(ApiModel):
    """A share as its project's owner lists it (its token is shown once, when it is created: only its
    hash is stored)."""

    share_id: str = Field(description="The share's id")
    mode: Literal["view", "copy"] = Field(description="What the link allows")
    created_at: Timestamp = Field(description="When it was created")
    expires_at: Timestamp = Field(description="When the link stops working")


class SharePage(ApiModel):
    items: list[ShareView] = Field(description="This page of shares, by id")
    next_cursor: str | None = Field(description="Send as `cursor` for the next page; null on the last")


class SharedProjectView(ApiModel):
    share_id: str = Field(description="The share's id")
    mode: Literal["view", "copy"] = Field(description="What the link allows (`copy`: POST /shares/{token}/copies)")
    expires_at: Timestamp = Field(description="When the link stops working")
    project: ProjectView = Field(description="The shared project's current version")


# Ids and references that end up inside table keys: no separators ('#', '/'), bounded length.
SAFE_REFERENCE = r"^[A-Za-z0-9._:@+-]{1,128}$"
MAX_CART_ITEMS_PER_ORDER = 25


class CartItemInput(ApiModel):
    project_id: str | None = Field(
        default=None,
        description="The caller's project to order: the item pins its current version and holds its files; none "
        "for a product without a project",
    )
    product_sku: str = Field(min_length=1, max_length=100, description="The shop's product (SKU)")
    quantity: StrictInt = Field(gt=0, le=10_000, description="How many")
    external_cart_id: str | None = Field(
        default=None, pattern=SAFE_REFERENCE, description="The shop's own cart id, to list its items together"
    )


class CartItemView(ApiModel):
    cart_item_id: str = Field(description="The cart item's id")
    user_id: str = Field(description="The user who added it")
    product_sku: str = Field(description="The shop's product (SKU)")
    quantity: int = Field(description="How many")
    project_id: str | None = Field(description="The project it orders, if any")
    project_version: int | None = Field(description="The project's version it pinned (what an order will print)")
    external_cart_id: str | None = Field(description="The shop's own cart id, if given")
    file_count: int = Field(description="How many files the pinned version holds")
    created_at: Timestamp = Field(description="When it was added")
    expires_at: Timestamp = Field(description="When it is removed unless ordered")

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
    items: list[CartItemView] = Field(description="This page of cart items")
    next_cursor: str | None = Field(description="Send as `cursor` for the next page; null on the last")


class OrderInput(ApiModel):
    cart_item_ids: list[str] = Field(
        min_length=1,
        max_length=MAX_CART_ITEMS_PER_ORDER,
        description=f"The caller's cart items to order (1 to {MAX_CART_ITEMS_PER_ORDER}; repeats count once)",
    )
    external_order_ref: str = Field(
        pattern=SAFE_REFERENCE,
        description="The shop's order reference: placing the same reference again answers the same order (200)",
    )

    @field_validator("cart_item_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class OrderLineView(ApiModel):
    cart_item_id: str = Field(description="The cart item the line was ordered from")
    product_sku: str = Field(description="The shop's product (SKU)")
    quantity: int = Field(description="How many")
    project_id: str | None = Field(description="The project it prints, if any")
    project_version: int | None = Field(description="The project's version it froze")

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
    project_id: str = Field(description="The project's id")
    version: int = Field(description="The version the order froze")
    name: str = Field(description="The project's name in that version")
    product_type: str = Field(description="The shop's product the project is for")
    # the frozen document (JSON), presigned for the tenant's download_url_seconds
    document_url: str = Field(description="A short-lived presigned GET of the frozen document (JSON)")
    file_count: int = Field(description="How many files the frozen version holds")
    # those of this page (the order's files in order, FILES_PAGE_SIZE a page)
    files: list[ProjectFileView] = Field(description="This project's files on this page of the order's files")


class OrderView(ApiModel):
    order_id: str = Field(description="The order's id")
    external_order_ref: str = Field(description="The shop's order reference")
    status: Literal["placed"] = Field(description="`placed`: its projects and files are frozen until expiresAt")
    created_at: Timestamp = Field(description="When it was placed")
    expires_at: Timestamp = Field(description="When its frozen projects and files are released (the order retention)")
    items: list[OrderLineView] = Field(description="Its lines, one per cart item")
    projects: list[OrderProjectView] = Field(description="The frozen projects, with a page of their files")
    # the next page of files: GET /orders/{id}?filesCursor=
    files_next_cursor: str | None = Field(
        default=None, description="Send as `filesCursor` for the next page of files; null on the last"
    )


class OrderSummary(ApiModel):
    """An order as GET /orders lists it: its lines, without the frozen projects (GET /orders/{orderId})."""

    order_id: str = Field(description="The order's id")
    external_order_ref: str = Field(description="The shop's order reference")
    status: Literal["placed"] = Field(description="`placed`: its projects and files are frozen until expiresAt")
    created_at: Timestamp = Field(description="When it was placed")
    expires_at: Timestamp = Field(description="When its frozen projects and files are released")
    file_count: int = Field(description="How many files the order froze")
    items: list[OrderLineView] = Field(description="Its lines, one per cart item")


class OrderPage(ApiModel):
    items: list[OrderSummary] = Field(description="This page of orders, newest first")
    next_cursor: str | None = Field(description="Send as `cursor` for the next page; null on the last")


class ManifestEntry(ApiModel):
    file_id: str = Field(description="The file's id")
    filename: str = Field(description="The name it was uploaded with")
    content_type: str = Field(description="Its image type")
    size_bytes: int = Field(description="Its size in bytes")
    width: int | None = Field(default=None, description="Its width in pixels")
    height: int | None = Field(default=None, description="Its height in pixels")
    url: str = Field(description="A presigned GET of the bytes, until the resubmission's expiresAt")


class ManifestDocument(ApiModel):
    project_id: str = Field(description="The project's id")
    version: int = Field(description="The frozen version")
    url: str = Field(description="A presigned GET of the frozen document (JSON)")


class ResubmissionView(ApiModel):
    resubmission_id: str = Field(description="This resubmission's id (as the order.resubmitted event names it)")
    order_id: str = Field(description="The order's id")
    external_order_ref: str = Field(description="The shop's order reference")
    manifest: list[ManifestEntry] = Field(
        description="the order's files; in an answer at most the first 500 (all of them at manifestUrl)"
    )
    documents: list[ManifestDocument] = Field(description="The frozen projects' documents")
    expires_at: Timestamp = Field(description="When the manifest's URLs stop working")
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
    description: str | None = Field(default=None, max_length=200, description="A note for people (which system)")

    @field_validator("event_types")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class WebhookEndpointView(ApiModel):
    endpoint_id: str = Field(description="The endpoint's id")
    url: str = Field(description="The https URL that receives the events")
    event_types: list[EventType] = Field(description="The events it receives")
    description: str | None = Field(default=None, description="The note given at registration")
    status: Literal["enabled", "disabled"] = Field(
        description="`disabled` after deliveries failed for days (enableWebhookEndpoint turns it back on)"
    )
    created_at: Timestamp = Field(description="When it was registered")
    failing_since: Timestamp | None = Field(
        default=None, description="Since when every delivery has failed; null while deliveries succeed"
    )
    disabled_at: Timestamp | None = Field(default=None, description="When it was disabled, if it is")


class WebhookEndpointCreated(WebhookEndpointView):
    secret: str = Field(description="whsec_ signing secret (Standard Webhooks); shown only here and on rotation")


class WebhookEndpointPage(ApiModel):
    items: list[WebhookEndpointView] = Field(description="Every endpoint of the tenant")


class SecretRotationView(ApiModel):
    secret: str = Field(description="the new whsec_ secret, used from now on")
    previous_secret_expires_at: Timestamp = Field(
        description="until then every delivery is also signed with the old one"
    )


class WebhookAttemptView(ApiModel):
    attempt_id: str = Field(description="The attempt's id")
    event_id: str = Field(description="The event's id (the webhook-id header)")
    event_type: EventType = Field(description="The event's type")
    attempt: int = Field(description="1 for the first delivery of a message, then each retry")
    at: Timestamp = Field(description="When the attempt was made")
    ok: bool = Field(description="True when the endpoint acknowledged it (2xx within 10 s)")
    status: int | None = Field(default=None, description="the endpoint's HTTP status, when it answered")
    error: str | None = Field(default=None, description="Why it failed (timeout, refused address...), if it did")
    latency_ms: int = Field(description="How long the endpoint took to answer, in milliseconds")
    replay: bool = Field(description="True for a delivery asked by replayWebhookEvents")


class WebhookAttemptPage(ApiModel):
    items: list[WebhookAttemptView] = Field(description="The most recent attempts, newest first")


class WebhookReplayInput(ApiModel):
    event_id: str | None = Field(
        default=None, pattern=r"^evt_[0-9a-f]{32}$", description="The one event to deliver again"
    )
    since: Timestamp | None = Field(default=None, description="ISO 8601 start of a time range (with until)")
    until: Timestamp | None = Field(default=None, description="ISO 8601 end of the time range; now when absent")


class WebhookReplayView(ApiModel):
    queued: int = Field(description="events queued for delivery again, with their ids unchanged")
    event_ids: list[str] = Field(description="The ids of the events queued")
    truncated: bool = Field(description="true when the range holds more events than one replay sends (100)")


# --- collaboration (docs/collaboration.md) ---------------------------------------------------------
# A member's role (imagestore.models.collaboration.Role's values).
MemberRole = Literal["editor", "commenter", "viewer"]
ROLE_FIELD = Field(description="editor (saves, adds own photos, comments), commenter (comments) or viewer")


class InviteInput(ApiModel):
    role: MemberRole = ROLE_FIELD
    expires_in_days: StrictInt = Field(default=7, gt=0, description="days the link works (capped by the tenant)")


class InviteCreated(ApiModel):
    invite_id: str = Field(description="id of the invite (to revoke it)")
    token: str = Field(description="the capability token (shown once: only its hash is stored)")
    url: str = Field(description="the link to send (the tenant's template, or this API's accept route)")
    role: MemberRole = Field(description="the role accepting it gives")
    expires_at: Timestamp = Field(description="when the link stops working")


class InviteView(ApiModel):
    invite_id: str = Field(description="id of the invite")
    role: MemberRole = Field(description="the role accepting it gives")
    created_at: Timestamp = Field(description="when it was made")
    expires_at: Timestamp = Field(description="when the link stops working")


class InvitePage(ApiModel):
    items: list[InviteView] = Field(description="the project's unexpired, unused invites")
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class MemberView(ApiModel):
    project_id: str = Field(description="the project")
    user_id: str = Field(description="the member")
    role: MemberRole = Field(description="editor, commenter or viewer")
    joined_at: Timestamp = Field(description="when they accepted their invite")
    invited_by: str = Field(description="the user whose invite they accepted (the owner)")


class MemberPage(ApiModel):
    owner_id: str = Field(description="the project's owner (not listed among the members)")
    items: list[MemberView] = Field(description="members, by user id")
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class RoleInput(ApiModel):
    role: MemberRole = ROLE_FIELD


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
    created_at: Timestamp = Field(description="when it was written")
    edited_at: Timestamp | None = Field(default=None, description="when its author last changed it")
    resolved_at: Timestamp | None = Field(default=None, description="when it was resolved; null while open")
    resolved_by: str | None = Field(default=None, description="who resolved it")


class CommentPage(ApiModel):
    items: list[CommentView] = Field(description="comments, newest first")
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class ActivityView(ApiModel):
    kind: Literal["saved", "joined", "left", "removed", "role_changed", "commented"] = Field(
        description="what happened"
    )
    user_id: str = Field(description="who did it")
    at: Timestamp = Field(description="when")
    version: int | None = Field(default=None, description="a save: the version it made")
    files_added: int | None = Field(default=None, description="a save: files the project did not have before")
    files_removed: int | None = Field(default=None, description="a save: files it no longer has")
    subject_id: str | None = Field(default=None, description="a removal or role change: the member concerned")
    role: MemberRole | None = Field(default=None, description="a join or role change: the role")
    comment_id: str | None = Field(default=None, description="a comment: its id")


class ActivityPage(ApiModel):
    items: list[ActivityView] = Field(description="what happened after `since`, oldest first")
    next_cursor: str | None = Field(description="pass as cursor for what follows; null when there is no more now")
