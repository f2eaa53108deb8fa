"""Cart items: kept for the tenant's cart retention, holding their project's files that long.

A cart item made from a project pins the project's version when it was added (a PIN item and
pinCount + 1 on the project, in the cart item's own transaction: imagestore.data.projects), so
editing or deleting the project later does not take images from the cart; it costs a few writes
whatever the number of images. The cart item keeps a copy of that version's manifest (one S3 copy),
so that an order of it freezes what was put in the cart. Cart items made before holds v2 hold links
of their own. A cart item may belong to an external (shop-side) cart; such items are also listed by
externalCartId, by any user of the same tenant. Deleting a cart item is the same holder removal the sweep runs
(imagestore.data.holders).
"""

from __future__ import annotations

from dataclasses import dataclass

from imagestore import ids, keys
from imagestore.auth import Principal
from imagestore.data.cart_items import CartItemStore
from imagestore.data.pagination import Page
from imagestore.data.partitions import HolderPartition
from imagestore.errors import Conflict, NotFound, TransactionConflict, Unprocessable
from imagestore.models.cart_items import CartItemRecord
from imagestore.observability import logger
from project_service.logic.projects import ProjectContext, find_own_project
from project_service.models import CartItemInput, CartItemPage, CartItemView

PIN_ATTEMPTS = 3


@dataclass(frozen=True)
class CartContext:
    project: ProjectContext
    cart_items: CartItemStore


def add_cart_item(principal: Principal, request: CartItemInput, ctx: CartContext, now: int) -> CartItemView:
    """A new cart item; with projectId, it pins that (own, live) project's current version."""
    principal.require_full_user()
    for attempt in range(PIN_ATTEMPTS):
        project = None
        if request.project_id is not None:
            try:
                project = find_own_project(principal, request.project_id, ctx.project, now)
            except NotFound:
                raise Unprocessable(
                    f"project {request.project_id} is not one of your projects",
                    details={"projectId": request.project_id},
                ) from None
        cart_item_id = ids.new_id()
        manifest_key = None
        if project is not None:
            # The pinned version as it is now (a server-side copy of its manifest): what an order of
            # this cart item freezes, even after the project was edited or deleted.
            assert project.manifest_key is not None
            manifest_key = keys.cart_item_manifest_key(principal.tenant_id, cart_item_id)
            if not ctx.project.bucket.copy(project.manifest_key, manifest_key):
                continue  # saved meanwhile (its manifest replaced): look again
        record = CartItemRecord(
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            cart_item_id=cart_item_id,
            product_sku=request.product_sku,
            quantity=request.quantity,
            created_at=now,
            expires_at=now + ctx.project.tenant.cart_retention_seconds,
            project_id=request.project_id,
            project_version=project.version if project else None,
            external_cart_id=request.external_cart_id,
            file_count=project.file_count if project else 0,
            manifest_key=manifest_key,
            project_name=project.name if project else None,
            project_product_type=project.product_type if project else None,
        )
        pin = [] if project is None else ctx.project.projects.pin_operations(project, record.pk, now)
        pin_key = None if project is None else keys.pin_key(project.pk, record.pk)
        try:
            ctx.cart_items.add_cart_item(record, pin=pin, pin_key=pin_key)
        except TransactionConflict:
            if manifest_key is not None:
                ctx.project.bucket.delete_objects([manifest_key])
            if attempt + 1 == PIN_ATTEMPTS:
                raise Conflict("the project changed while adding it to the cart; retry") from None
            continue  # saved or deleted meanwhile: look again
        logger.info(
            "cart item added", cart_item_id=record.cart_item_id, project_id=record.project_id, files=record.file_count
        )
        return CartItemView.of(record)
    raise Conflict("the project changed while adding it to the cart; retry")


def list_cart_items(
    principal: Principal, ctx: CartContext, now: int, *, limit: int, cursor: str | None, external_cart_id: str | None
) -> CartItemPage:
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
    if (
        meta is None
        or meta.get("entity") != CartItemRecord.ENTITY
        or not CartItemRecord.from_item(meta).is_live(now)
        or meta["userId"] != principal.user_id
    ):
        raise NotFound(f"cart item {cart_item_id} not found")
    return partition
