"""Orders: cart items frozen for the lab, and resubmitting them.

Placing an order freezes, for each cart item made from a project, that project as it is now: its
document is copied into S3 (keys.order_document_key) and the order holds the files of that
version itself (hold links in the order's partition) for the tenant's order retention, whatever
happens to the project or the cart item afterwards. The cart items are left as they are.

Idempotency is a conditional write on the shop's reference (keys.order_ref_key), made in the same
transaction that marks the order placed: the first POST /orders answers 201, a repeat with the same
externalOrderRef and the same cart items answers 200 with the same order; the same reference with
other cart items, or by another user, is a 409. Placing runs META first (expiring within
PLACEMENT_WINDOW_SECONDS until placed), then the documents and holds, then the claim: a call that
dies half-way, or loses the claim to a concurrent one, leaves a holder the sweep removes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from imagestore import ids, keys
from imagestore.auth import Principal
from imagestore.clock import from_epoch, iso
from imagestore.data.cart_items import CartItemStore
from imagestore.data.orders import OrderEvents, OrderPartition, OrderStore
from imagestore.errors import Conflict, NotFound, Unprocessable
from imagestore.models.cart_items import CartItemRecord
from imagestore.models.holds import FileRef
from imagestore.models.orders import FrozenProject, OrderLine, OrderRecord
from imagestore.observability import logger
from project_service.logic.projects import ProjectContext, read_document
from project_service.models import (
    ManifestDocument,
    ManifestEntry,
    OrderInput,
    OrderLineView,
    OrderProjectView,
    OrderView,
    ProjectFileView,
    ResubmissionView,
)

HOLDER_KIND = "order"
PLACEMENT_WINDOW_SECONDS = 900
# SigV4 presigned URLs are valid for 7 days at most (and no longer than the signing credentials).
LAB_URL_SECONDS = 7 * 86400


@dataclass(frozen=True)
class OrderContext:
    project: ProjectContext
    cart_items: CartItemStore
    orders: OrderStore
    events: OrderEvents


@dataclass
class _Freeze:
    """What placing an order gathers before writing anything."""

    lines: list[OrderLine]
    projects: list[FrozenProject]
    documents: dict[str, Any]
    refs: dict[str, FileRef]


def place_order(principal: Principal, request: OrderInput, ctx: OrderContext, now: int) -> tuple[OrderView, bool]:
    """The order of request.external_order_ref: (order, True) when placed now, (order, False) on a repeat."""
    principal.require_full_user()
    existing = _placed_order(principal, request, ctx, now)
    if existing is not None:
        return existing, False
    order_id = ids.new_id()
    freeze = _freeze(principal, request, order_id, ctx, now)
    record = OrderRecord(
        tenant_id=principal.tenant_id, user_id=principal.user_id, order_id=order_id,
        external_order_ref=request.external_order_ref, created_at=now, expires_at=now + PLACEMENT_WINDOW_SECONDS,
        lines=tuple(freeze.lines), file_count=len(freeze.refs),
    )
    ctx.orders.begin_order(record, freeze.projects)
    for frozen in freeze.projects:
        document = json.dumps(freeze.documents[frozen.project_id], separators=(",", ":"), ensure_ascii=False)
        ctx.project.bucket.put_document(frozen.document_key, document.encode())
    try:
        links = ctx.project.holds.acquire(record.pk, HOLDER_KIND, order_id, list(freeze.refs.values()), now)
    except Unprocessable as gone:
        _drop(record, ctx, now)
        raise Conflict("files of the ordered projects changed while ordering; retry", details=gone.details) from None
    placed = record.model_copy(update={"placed": True, "expires_at": now + ctx.project.tenant.order_retention_seconds})
    if not ctx.orders.place_order(placed):
        _drop(record, ctx, now)
        existing = _placed_order(principal, request, ctx, now)
        if existing is None:
            raise Conflict(f"order {request.external_order_ref} is being placed; retry")
        return existing, False
    logger.info("order placed", order_id=order_id, external_order_ref=request.external_order_ref,
                files=len(links), projects=len(freeze.projects))
    return order_view(OrderPartition(order=placed, projects=freeze.projects, links=links), ctx,
                      documents=freeze.documents), True


def _placed_order(principal: Principal, request: OrderInput, ctx: OrderContext, now: int) -> OrderView | None:
    """The order already placed under the reference (one GetItem when there is none)."""
    found = ctx.orders.order_id_of_ref(principal.tenant_id, request.external_order_ref)
    if found is None:
        return None
    order_id, user_id = found
    if user_id != principal.user_id:
        raise Conflict(f"externalOrderRef {request.external_order_ref} is already used")
    partition = ctx.orders.load_order(principal.tenant_id, order_id)
    order = partition.order
    if order is None or not order.is_live(now):
        raise Conflict(f"the order of externalOrderRef {request.external_order_ref} is no longer kept")
    if {line.cart_item_id for line in order.lines} != set(request.cart_item_ids):
        raise Conflict(f"externalOrderRef {request.external_order_ref} already names an order of other cart items",
                       details={"orderId": order_id})
    return order_view(partition, ctx)


def _freeze(principal: Principal, request: OrderInput, order_id: str, ctx: OrderContext, now: int) -> _Freeze:
    """The caller's live cart items and, for each project they were made from, its current version."""
    found = ctx.cart_items.get_cart_items(principal.tenant_id, [c for c in request.cart_item_ids if ids.is_id(c)])
    bad = [c for c in request.cart_item_ids
           if c not in found or found[c].user_id != principal.user_id or not found[c].is_live(now)]
    if bad:
        raise Unprocessable("these cart items are not available to you: " + ", ".join(bad),
                            details={"unavailableCartItemIds": bad})
    freeze = _Freeze(lines=[], projects=[], documents={}, refs={})
    versions: dict[str, int] = {}
    for cart_item_id in request.cart_item_ids:
        item = found[cart_item_id]
        if item.project_id is not None and item.project_id not in versions:
            versions[item.project_id] = _freeze_project(principal, item, order_id, freeze, ctx, now)
        freeze.lines.append(OrderLine(
            cart_item_id=cart_item_id, product_sku=item.product_sku, quantity=item.quantity,
            project_id=item.project_id, project_version=versions.get(item.project_id or ""),
        ))
    return freeze


def _freeze_project(principal: Principal, item: CartItemRecord, order_id: str, freeze: _Freeze,
                    ctx: OrderContext, now: int) -> int:
    """Add the project's current version to freeze (one Query); its version number."""
    assert item.project_id is not None
    partition = ctx.project.projects.load_project(principal.tenant_id, item.project_id)
    project = partition.project
    if project is None or project.user_id != principal.user_id or not project.is_live(now):
        raise Conflict(f"the project of cart item {item.cart_item_id} no longer exists",
                       details={"cartItemId": item.cart_item_id, "projectId": item.project_id})
    try:
        document = read_document(project, ctx.project.bucket)
    except NotFound:
        raise Conflict(f"project {project.project_id} is being saved; retry") from None
    by_id = {ref.file_id: ref for ref in partition.links}
    missing = [f for f in project.file_ids if f not in by_id]
    if missing:
        # A save is linking its new files right now (links are written before META): read them directly.
        records = ctx.project.files.get_files(principal.tenant_id, project.user_id, missing)
        if set(records) != set(missing):
            raise Conflict(f"project {project.project_id} is being saved; retry")
        by_id.update({f: FileRef.of(r) for f, r in records.items()})
    freeze.refs.update({f: by_id[f] for f in project.file_ids})
    freeze.documents[project.project_id] = document
    freeze.projects.append(FrozenProject(
        tenant_id=principal.tenant_id, order_id=order_id, project_id=project.project_id, version=project.version,
        name=project.name, product_type=project.product_type, file_ids=project.file_ids,
        document_key=keys.order_document_key(principal.tenant_id, order_id, project.project_id),
    ))
    return project.version


def _drop(record: OrderRecord, ctx: OrderContext, now: int) -> None:
    """Remove an order that was not placed (the holder removal the sweep also runs)."""
    ctx.project.holders.remove(ctx.project.holders.read(record.pk), now)


def find_own_order(principal: Principal, order_id: str, ctx: OrderContext, now: int) -> OrderPartition:
    """The caller's placed, live order; anything else is 404."""
    principal.require_full_user()
    if not ids.is_id(order_id):
        raise NotFound(f"order {order_id} not found")
    partition = ctx.orders.load_order(principal.tenant_id, order_id)
    order = partition.order
    if order is None or order.user_id != principal.user_id or not order.is_live(now):
        raise NotFound(f"order {order_id} not found")
    return partition


def get_order(principal: Principal, order_id: str, ctx: OrderContext, now: int) -> OrderView:
    return order_view(find_own_order(principal, order_id, ctx, now), ctx)


def order_view(partition: OrderPartition, ctx: OrderContext, documents: dict[str, Any] | None = None) -> OrderView:
    """The order with its frozen projects: documents and files with download URLs."""
    order = partition.order
    assert order is not None
    by_id = {ref.file_id: ref for ref in partition.links}
    seconds = ctx.project.tenant.download_url_seconds
    bucket = ctx.project.bucket
    projects = []
    for frozen in partition.projects:
        if documents is not None and frozen.project_id in documents:
            document = documents[frozen.project_id]
        else:
            body = bucket.read(frozen.document_key)
            document = json.loads(body) if body is not None else None
        files = [ProjectFileView.of(by_id[f], bucket.presign_download(by_id[f].object_key, expires_in=seconds,
                                                                       filename=by_id[f].filename))
                 for f in frozen.file_ids if f in by_id]
        projects.append(OrderProjectView(project_id=frozen.project_id, version=frozen.version, name=frozen.name,
                                         product_type=frozen.product_type, document=document, files=files))
    return OrderView(order_id=order.order_id, external_order_ref=order.external_order_ref, status="placed",
                     created_at=iso(from_epoch(order.created_at)), expires_at=iso(from_epoch(order.expires_at)),
                     items=[OrderLineView.of(line) for line in order.lines], projects=projects)


def resubmit_order(principal: Principal, order_id: str, ctx: OrderContext, now: int) -> ResubmissionView:
    """A manifest of presigned URLs a lab can fetch for days, kept in S3, announced by an event."""
    partition = find_own_order(principal, order_id, ctx, now)
    order = partition.order
    assert order is not None
    bucket = ctx.project.bucket
    seconds = max(1, min(LAB_URL_SECONDS, order.expires_at - now))
    resubmission_id = ids.new_id()
    by_id = {ref.file_id: ref for ref in partition.links}
    ordered = dict.fromkeys(f for frozen in partition.projects for f in frozen.file_ids if f in by_id)
    manifest = [
        ManifestEntry(file_id=ref.file_id, filename=ref.filename, content_type=ref.content_type,
                      size_bytes=ref.size_bytes, width=ref.width, height=ref.height,
                      url=bucket.presign_download(ref.object_key, expires_in=seconds, filename=ref.filename))
        for ref in (by_id[f] for f in ordered)
    ]
    documents = [ManifestDocument(project_id=p.project_id, version=p.version,
                                  url=bucket.presign_download(p.document_key, expires_in=seconds))
                 for p in partition.projects]
    view = ResubmissionView(resubmission_id=resubmission_id, order_id=order.order_id,
                            external_order_ref=order.external_order_ref, manifest=manifest, documents=documents,
                            expires_at=iso(from_epoch(now + seconds)))
    manifest_key = keys.order_manifest_key(order.tenant_id, order.order_id, resubmission_id)
    bucket.put_document(manifest_key, view.model_dump_json(by_alias=True).encode())
    ctx.orders.add_resubmission(order, resubmission_id, manifest_key, now)
    ctx.events.order_resubmitted({
        "tenantId": order.tenant_id, "userId": order.user_id, "orderId": order.order_id,
        "externalOrderRef": order.external_order_ref, "resubmissionId": resubmission_id,
        "fileCount": len(manifest), "expiresAt": view.expires_at,
        "manifestUrl": bucket.presign_download(manifest_key, expires_in=seconds),
    })
    logger.info("order resubmitted", order_id=order.order_id, resubmission_id=resubmission_id, files=len(manifest))
    return view
