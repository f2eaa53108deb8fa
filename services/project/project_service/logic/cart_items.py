"""Cart items: kept for the tenant's cart retention, holding their project's files that long.

A cart item made from a project holds the files of the project's version when it was added
(hold links in the cart item's own partition), so editing or deleting the project later does not
take images from the cart. A cart item may belong to an external (shop-side) cart; such items are
also listed by externalCartId, by any user of the same tenant. Deleting a cart item is the same
holder removal the sweep runs (imagestore.data.holders).
"""

from __future__ import annotations

from dataclasses import dataclass

from imagestore import ids, keys
from imagestore.auth import Principal
from imagestore.data.cart_items import CartItemStore
from imagestore.data.holders import HolderPartition
from imagestore.data.pagination import Page
from imagestore.errors import Conflict, NotFound, Unprocessable
from imagestore.models.cart_items import CartItemRecord
from imagestore.models.holds import FileRef
from imagestore.observability import logger
from project_service.logic.projects import ProjectContext, find_own_project
from project_service.models import CartItemInput, CartItemPage, CartItemView

HOLDER_KIND = "cartItem"


@dataclass(frozen=True)
class CartContext:
    project: ProjectContext
    cart_items: CartItemStore


def add_cart_item(principal: Principal, request: CartItemInput, ctx: CartContext, now: int) -> CartItemView:
    """A new cart item; with projectId, it holds that (own, live) project's files."""
    principal.require_full_user()
    refs: list[FileRef] = []
    version = None
    if request.project_id is not None:
        try:
            partition = find_own_project(principal, request.project_id, ctx.project, now)
        except NotFound:
            raise Unprocessable(f"project {request.project_id} is not one of your projects",
                                details={"projectId": request.project_id}) from None
        project = partition.project
        assert project is not None
        by_id = {ref.file_id: ref for ref in partition.links}
        refs = [by_id[f] for f in project.file_ids if f in by_id]
        version = project.version
    record = CartItemRecord(
        tenant_id=principal.tenant_id, user_id=principal.user_id, cart_item_id=ids.new_id(),
        product_sku=request.product_sku, quantity=request.quantity, created_at=now,
        expires_at=now + ctx.project.tenant.cart_retention_seconds, project_id=request.project_id,
        project_version=version, external_cart_id=request.external_cart_id, file_count=len(refs),
    )
    # META first: if this call dies half-way, the item (and what it holds) expires like any cart item.
    ctx.cart_items.add_cart_item(record)
    if refs:
        try:
            ctx.project.holds.acquire(record.pk, HOLDER_KIND, record.cart_item_id, refs, now)
        except Unprocessable as gone:
            ctx.project.holders.remove(ctx.project.holders.read(record.pk), now)
            raise Conflict("the project's files changed while adding it to the cart; retry",
                           details=gone.details) from None
    logger.info("cart item added", cart_item_id=record.cart_item_id, project_id=record.project_id, files=len(refs))
    return CartItemView.of(record)


def list_cart_items(principal: Principal, ctx: CartContext, now: int, *, limit: int, cursor: str | None,
                    external_cart_id: str | None) -> CartItemPage:
    """The caller's cart items (newest first), or an external cart's items (oldest first)."""
    principal.require_full_user()
    page: Page
    if external_cart_id is None:
        page = ctx.cart_items.list_cart_items(principal.tenant_id, principal.user_id, limit=limit, cursor=cursor)
    else:
        page = ctx.cart_items.list_external_cart(principal.tenant_id, external_cart_id, limit=limit, cursor=cursor)
    live = [CartItemView.of(item) for item in page.items if item.is_live(now)]
    return CartItemPage(items=live, next_cursor=page.next_cursor)


def delete_cart_item(principal: Principal, cart_item_id: str, ctx: CartContext, now: int) -> None:
    """Remove the caller's cart item, its holds and its external-cart pointer."""
    principal.require_full_user()
    partition = _own_cart_item(principal, cart_item_id, ctx, now)
    ctx.project.holders.remove(partition, now)
    logger.info("cart item deleted", cart_item_id=cart_item_id, released=len(partition.links))


def _own_cart_item(principal: Principal, cart_item_id: str, ctx: CartContext, now: int) -> HolderPartition:
    if not ids.is_id(cart_item_id):
        raise NotFound(f"cart item {cart_item_id} not found")
    partition = ctx.project.holders.read(keys.cart_item_pk(principal.tenant_id, cart_item_id))
    meta = partition.meta
    if (meta is None or meta.get("entity") != CartItemRecord.ENTITY
            or not CartItemRecord.from_item(meta).is_live(now) or meta["userId"] != principal.user_id):
        raise NotFound(f"cart item {cart_item_id} not found")
    return partition
