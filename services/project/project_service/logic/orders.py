"""Orders: cart items frozen for the lab, and resubmitting them.

Placing an order freezes, for each cart item made from a project, the project version the cart item
pinned (whatever happened to the project since: edited or deleted, the cart item's pin keeps that
version's files, and the cart item keeps a copy of its manifest): its version's document and manifest
are copied into S3 (keys.order_document_key, for the lab, and
keys.order_frozen_manifest_key, document and files, for the order's reads) and the order
pins that version (imagestore.data.projects): the project keeps the version's files for as long as
the order exists, whatever happens to the project or the cart item afterwards. The cart items are
left as they are. An order costs a few writes per project, whatever the number of images.

Idempotency is a conditional write on the shop's reference (keys.order_ref_key), in the one
transaction that writes the order, its frozen projects and their pins: the first POST /orders answers
201, a repeat with the same externalOrderRef and the same cart items answers 200 with the same order;
the same reference with other cart items, or by another user, is a 409. The order's pin is conditioned
on the cart item's pin being there (the cart item deleted meanwhile: frozen again, 422). A cart item
that pins nothing (made before holds v2) freezes its project as it is now; a project saved between the
read and the transaction then fails the transaction, and the order is frozen again from the new
version. Orders placed before holds v2 hold links of their own and keep being read that way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from imagestore import ids, keys, webhook_events
from imagestore.auth import Principal
from imagestore.clock import from_epoch, iso
from imagestore.data.cart_items import CartItemStore
from imagestore.data.orders import OrderEvents, OrderPartition, OrderRefTaken, OrderStore
from imagestore.errors import Conflict, NotFound, TransactionConflict, Unprocessable
from imagestore.models.cart_items import CartItemRecord
from imagestore.models.files import PreviewStatus
from imagestore.models.holds import FileRef
from imagestore.models.manifests import Manifest
from imagestore.models.orders import FrozenProject, OrderLine, OrderRecord
from imagestore.observability import logger
from project_service.logic.projects import ProjectContext, file_views, files_offset, next_files_cursor
from project_service.models import (
    FILES_PAGE_SIZE,
    ManifestDocument,
    ManifestEntry,
    OrderInput,
    OrderLineView,
    OrderPage,
    OrderProjectView,
    OrderSummary,
    OrderView,
    ResubmissionView,
)

FREEZE_ATTEMPTS = 3
# SigV4 presigned URLs are valid for 7 days at most (and no longer than the signing credentials).
LAB_URL_SECONDS = 7 * 86400
# Manifest entries a resubmission answers inline (each up to ~6 KB: a presigned URL with a long name); the
# whole manifest is at its presigned manifestUrl, so the answer stays far under Lambda's 6 MB.
MANIFEST_INLINE_ENTRIES = 500


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
    manifests: dict[str, Manifest]
    pins: list[dict[str, Any]]


def place_order(principal: Principal, request: OrderInput, ctx: OrderContext, now: int) -> tuple[OrderView, bool]:
    """The order of request.external_order_ref: (order, True) when placed now, (order, False) on a repeat.
    The tenant's `order.placed` webhook event is written in the transaction that places the order (the
    event log is the outbox): an order is never placed without its event, and a repeat sends none."""
    principal.require_full_user()
    existing = _placed_order(principal, request, ctx, now)
    if existing is not None:
        return existing, False
    bucket = ctx.project.bucket
    for _ in range(FREEZE_ATTEMPTS):
        order_id = ids.new_id()
        freeze = _freeze(principal, request, order_id, ctx, now)
        record = OrderRecord(
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            order_id=order_id,
            external_order_ref=request.external_order_ref,
            created_at=now,
            expires_at=now + ctx.project.tenant.order_retention_seconds,
            lines=tuple(freeze.lines),
            file_count=len({f for m in freeze.manifests.values() for f in m.file_ids}),
            placed=True,
        )
        for frozen in freeze.projects:
            manifest = freeze.manifests[frozen.project_id]
            bucket.put_document(
                frozen.document_key, json.dumps(manifest.document, separators=(",", ":"), ensure_ascii=False).encode()
            )
            bucket.put_document(str(frozen.manifest_key), manifest.to_bytes())
        try:
            placed = webhook_events.order_placed(
                principal.tenant_id, principal.user_id, order_id, request.external_order_ref, len(freeze.lines), now
            )
            ctx.orders.place(record, freeze.projects, freeze.pins, events=[placed])
        except (OrderRefTaken, TransactionConflict) as failure:
            bucket.delete_objects([k for p in freeze.projects for k in (p.document_key, p.manifest_key) if k])
            if isinstance(failure, TransactionConflict):
                continue  # a project was saved or deleted meanwhile: freeze again
            existing = _placed_order(principal, request, ctx, now)
            if existing is None:
                raise Conflict(f"order {request.external_order_ref} is being placed; retry") from None
            return existing, False
        logger.info(
            "order placed",
            order_id=order_id,
            external_order_ref=request.external_order_ref,
            files=record.file_count,
            projects=len(freeze.projects),
        )
        return order_view(OrderPartition(order=record, projects=freeze.projects), ctx, manifests=freeze.manifests), True
    raise Conflict("the ordered projects kept changing while ordering; retry")


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
        raise Conflict(
            f"externalOrderRef {request.external_order_ref} already names an order of other cart items",
            details={"orderId": order_id},
        )
    return order_view(partition, ctx)


def _freeze(principal: Principal, request: OrderInput, order_id: str, ctx: OrderContext, now: int) -> _Freeze:
    """The caller's live cart items and, for each project they were made from, its current version."""
    found = ctx.cart_items.get_cart_items(principal.tenant_id, [c for c in request.cart_item_ids if ids.is_id(c)])
    bad = [
        c
        for c in request.cart_item_ids
        if c not in found or found[c].user_id != principal.user_id or not found[c].is_live(now)
    ]
    if bad:
        raise Unprocessable(
            "these cart items are not available to you: " + ", ".join(bad), details={"unavailableCartItemIds": bad}
        )
    freeze = _Freeze(lines=[], projects=[], manifests={}, pins=[])
    versions: dict[str, int] = {}
    for cart_item_id in request.cart_item_ids:
        item = found[cart_item_id]
        if item.project_id is not None and item.project_id not in versions:
            versions[item.project_id] = _freeze_project(principal, item, order_id, freeze, ctx, now)
        freeze.lines.append(
            OrderLine(
                cart_item_id=cart_item_id,
                product_sku=item.product_sku,
                quantity=item.quantity,
                project_id=item.project_id,
                project_version=versions.get(item.project_id or ""),
            )
        )
    return freeze


def _freeze_project(
    principal: Principal, item: CartItemRecord, order_id: str, freeze: _Freeze, ctx: OrderContext, now: int
) -> int:
    """Add the project version the cart item pinned to freeze (one S3 GET), whatever happened to the
    project since (edited, deleted: the cart item's pin keeps that version's files); a cart item that
    pins nothing (made before holds v2), or whose pinned version is no longer known, freezes the
    project's current version. Its version number."""
    assert item.project_id is not None
    pinned = _pinned_version(principal, item, ctx)
    if pinned is None:
        return _freeze_current_project(principal, item, order_id, freeze, ctx, now)
    assert item.pin_key is not None
    name, product_type, version, manifest = pinned
    order_pk = keys.order_pk(principal.tenant_id, order_id)
    project_pk = keys.project_pk(principal.tenant_id, item.project_id)
    freeze.manifests[item.project_id] = manifest
    freeze.pins.extend(ctx.project.projects.pin_operations_beside(item.pin_key, order_pk, version, now))
    freeze.projects.append(
        FrozenProject(
            tenant_id=principal.tenant_id,
            order_id=order_id,
            project_id=item.project_id,
            version=version,
            name=name,
            product_type=product_type,
            document_key=keys.order_document_key(principal.tenant_id, order_id, item.project_id),
            pin_key=keys.pin_key(project_pk, order_pk),
            manifest_key=keys.order_frozen_manifest_key(principal.tenant_id, order_id, item.project_id),
        )
    )
    return version


def _pinned_version(
    principal: Principal, item: CartItemRecord, ctx: OrderContext
) -> tuple[str, str, int, Manifest] | None:
    """(name, product type, version, manifest) of the version the cart item pinned: its own copy of the
    manifest; for a cart item made before it kept one, the project's current version if it is still
    that one (edited since: None)."""
    assert item.project_id is not None
    if item.pin_key is None or item.project_version is None:
        return None
    if item.manifest_key is not None and item.project_name is not None and item.project_product_type is not None:
        body = ctx.project.bucket.read(item.manifest_key)
        if body is not None:
            return item.project_name, item.project_product_type, item.project_version, Manifest.from_bytes(body)
    record = ctx.project.projects.get(principal.tenant_id, item.project_id)
    if record is None or record.version != item.project_version:
        return None
    manifest = ctx.project.projects.manifest(record)
    return None if manifest is None else (record.name, record.product_type, record.version, manifest)


def _freeze_current_project(
    principal: Principal, item: CartItemRecord, order_id: str, freeze: _Freeze, ctx: OrderContext, now: int
) -> int:
    """Add the project's current version to freeze (one GetItem, one S3 GET); its version number."""
    assert item.project_id is not None
    loaded = ctx.project.projects.load(principal.tenant_id, item.project_id)
    if loaded is None or loaded[0].user_id != principal.user_id or not loaded[0].is_live(now):
        raise Conflict(
            f"the project of cart item {item.cart_item_id} no longer exists",
            details={"cartItemId": item.cart_item_id, "projectId": item.project_id},
        )
    project, manifest = loaded
    order_pk = keys.order_pk(principal.tenant_id, order_id)
    freeze.manifests[project.project_id] = manifest
    freeze.pins.extend(ctx.project.projects.pin_operations(project, order_pk, now))
    freeze.projects.append(
        FrozenProject(
            tenant_id=principal.tenant_id,
            order_id=order_id,
            project_id=project.project_id,
            version=project.version,
            name=project.name,
            product_type=project.product_type,
            document_key=keys.order_document_key(principal.tenant_id, order_id, project.project_id),
            pin_key=keys.pin_key(project.pk, order_pk),
            manifest_key=keys.order_frozen_manifest_key(principal.tenant_id, order_id, project.project_id),
        )
    )
    return project.version


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


def list_orders(principal: Principal, ctx: OrderContext, now: int, *, limit: int, cursor: str | None) -> OrderPage:
    """The caller's live orders, newest first, a page at a time."""
    principal.require_full_user()
    page = ctx.orders.list_orders(principal.tenant_id, principal.user_id, limit=limit, cursor=cursor)
    return OrderPage(
        items=[
            OrderSummary(
                order_id=o.order_id,
                external_order_ref=o.external_order_ref,
                status="placed",
                created_at=iso(from_epoch(o.created_at)),
                expires_at=iso(from_epoch(o.expires_at)),
                file_count=o.file_count,
                items=[OrderLineView.of(line) for line in o.lines],
            )
            for o in page.items
            if o.is_live(now)
        ],
        next_cursor=page.next_cursor,
    )


def get_order(
    principal: Principal, order_id: str, ctx: OrderContext, now: int, files_cursor: str | None = None
) -> OrderView:
    return order_view(find_own_order(principal, order_id, ctx, now), ctx, files_cursor=files_cursor)


def order_view(
    partition: OrderPartition,
    ctx: OrderContext,
    manifests: dict[str, Manifest] | None = None,
    files_cursor: str | None = None,
) -> OrderView:
    """The order with its frozen projects: each document by a presigned URL (25 of 1 MiB inline would
    not fit in an answer), and a page of the order's files (its projects' in turn, FILES_PAGE_SIZE a
    page) with download URLs."""
    order = partition.order
    assert order is not None
    contents = [(frozen, _frozen_contents(frozen, partition, ctx, manifests)[1]) for frozen in partition.projects]
    total = sum(len(refs) for _, refs in contents)
    start = files_offset(files_cursor, 0, total)
    end = start + FILES_PAGE_SIZE
    projects, first = [], 0
    seconds = ctx.project.tenant.download_url_seconds
    for frozen, refs in contents:
        page = refs[max(0, start - first) : max(0, end - first)]
        first += len(refs)
        failed: frozenset[str] = frozenset()
        if frozen.pin_key is not None and any(ref.preview_status is PreviewStatus.PENDING for ref in page):
            # Failures since the version was saved: its project (kept by the order's pin) records them.
            pinned = ctx.project.projects.get(frozen.tenant_id, frozen.project_id)
            failed = pinned.preview_failed if pinned is not None else failed
        projects.append(
            OrderProjectView(
                project_id=frozen.project_id,
                version=frozen.version,
                name=frozen.name,
                product_type=frozen.product_type,
                document_url=ctx.project.bucket.presign_download(frozen.document_key, expires_in=seconds),
                file_count=len(refs),
                files=file_views(page, ctx.project, failed=failed),
            )
        )
    return OrderView(
        order_id=order.order_id,
        external_order_ref=order.external_order_ref,
        status="placed",
        created_at=iso(from_epoch(order.created_at)),
        expires_at=iso(from_epoch(order.expires_at)),
        items=[OrderLineView.of(line) for line in order.lines],
        projects=projects,
        files_next_cursor=next_files_cursor(0, end, total),
    )


def _frozen_contents(
    frozen: FrozenProject, partition: OrderPartition, ctx: OrderContext, manifests: dict[str, Manifest] | None = None
) -> tuple[Any, list[FileRef]]:
    """A frozen project's document and files: from its manifest object (or, for an order placed before
    holds v2, its document object and the order's links)."""
    if manifests is not None and frozen.project_id in manifests:
        given = manifests[frozen.project_id]
        return given.document, list(given.files)
    if frozen.manifest_key is not None:
        body = ctx.project.bucket.read(frozen.manifest_key)
        stored = Manifest.from_bytes(body) if body is not None else None
        return (stored.document, list(stored.files)) if stored else (None, [])
    body = ctx.project.bucket.read(frozen.document_key)
    by_id = {ref.file_id: ref for ref in partition.links}
    return (json.loads(body) if body is not None else None), [by_id[f] for f in frozen.file_ids if f in by_id]


def resubmit_order(principal: Principal, order_id: str, ctx: OrderContext, now: int) -> ResubmissionView:
    """A manifest of presigned URLs a lab can fetch for days, kept in S3, announced by an event."""
    partition = find_own_order(principal, order_id, ctx, now)
    order = partition.order
    assert order is not None
    bucket = ctx.project.bucket
    seconds = max(1, min(LAB_URL_SECONDS, order.expires_at - now))
    resubmission_id = ids.new_id()
    by_id: dict[str, FileRef] = {}
    for frozen in partition.projects:
        for ref in _frozen_contents(frozen, partition, ctx)[1]:
            by_id.setdefault(ref.file_id, ref)
    ordered = list(by_id)
    manifest = [
        ManifestEntry(
            file_id=ref.file_id,
            filename=ref.filename,
            content_type=ref.content_type,
            size_bytes=ref.size_bytes,
            width=ref.width,
            height=ref.height,
            url=bucket.presign_download(
                ref.object_key, expires_in=seconds, filename=ref.filename, content_type=ref.content_type
            ),
        )
        for ref in (by_id[f] for f in ordered)
    ]
    documents = [
        ManifestDocument(
            project_id=p.project_id, version=p.version, url=bucket.presign_download(p.document_key, expires_in=seconds)
        )
        for p in partition.projects
    ]
    view = ResubmissionView(
        resubmission_id=resubmission_id,
        order_id=order.order_id,
        external_order_ref=order.external_order_ref,
        manifest=manifest,
        documents=documents,
        expires_at=iso(from_epoch(now + seconds)),
        file_count=len(manifest),
        manifest_complete=True,
    )
    manifest_key = keys.order_manifest_key(order.tenant_id, order.order_id, resubmission_id)
    bucket.put_document(manifest_key, view.model_dump_json(by_alias=True).encode())
    manifest_url = bucket.presign_download(manifest_key, expires_in=seconds)
    # The tenant's `order.resubmitted` webhook event, in the same transaction as the resubmission.
    resubmitted = webhook_events.order_resubmitted(
        order.tenant_id, order.user_id, order.order_id, order.external_order_ref, resubmission_id, len(manifest), now
    )
    ctx.orders.add_resubmission(order, resubmission_id, manifest_key, now, events=[resubmitted])
    ctx.events.order_resubmitted(
        {
            "tenantId": order.tenant_id,
            "userId": order.user_id,
            "orderId": order.order_id,
            "externalOrderRef": order.external_order_ref,
            "resubmissionId": resubmission_id,
            "fileCount": len(manifest),
            "expiresAt": view.expires_at,
            "manifestUrl": manifest_url,
        }
    )
    logger.info("order resubmitted", order_id=order.order_id, resubmission_id=resubmission_id, files=len(manifest))
    return view.model_copy(
        update={
            "manifest": manifest[:MANIFEST_INLINE_ENTRIES],
            "manifest_complete": len(manifest) <= MANIFEST_INLINE_ENTRIES,
            "manifest_url": manifest_url,
        }
    )
