"""Access patterns of cart items: add, get, list per user (gsi1) and per external cart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from imagestore import keys
from imagestore.data.pagination import Page, decode_cursor, encode_cursor, newest_first_in_gsi1
from imagestore.data.table import Table
from imagestore.models.cart_items import CartItemRecord


class CartItemStore:
    """Cart items of the single table."""

    def __init__(self, table: Table, expiry_shards: int) -> None:
        self.table = table
        self.expiry_shards = expiry_shards

    def add_cart_item(
        self, record: CartItemRecord, *, pin: Sequence[Mapping[str, Any]] = (), pin_key: Mapping[str, str] | None = None
    ) -> None:
        """META, the external cart's pointer when there is one, and the pin on its project's version
        (imagestore.data.projects.ProjectStore.pin_operations) when there is one: one transaction."""
        meta = record.to_item(self.expiry_shards)
        if pin_key is not None:
            meta["pinKey"] = dict(pin_key)
        operations: list[Mapping[str, Any]] = [
            {"Put": {"Item": meta, "ConditionExpression": "attribute_not_exists(pk)"}}
        ]
        if record.pointer_key is not None:
            operations.append({"Put": {"Item": record.to_pointer_item()}})
        operations.extend(pin)
        if len(operations) == 1:
            self.table.put(meta, condition="attribute_not_exists(pk)")
            return
        self.table.transact_write(operations)

    def get_cart_items(self, tenant_id: str, cart_item_ids: list[str]) -> dict[str, CartItemRecord]:
        """The cart items among the ids (BatchGetItem); missing ids are absent."""
        items = self.table.batch_get([keys.cart_item_key(tenant_id, c) for c in cart_item_ids])
        return {i["cartItemId"]: CartItemRecord.from_item(i) for i in items if i.get("entity") == CartItemRecord.ENTITY}

    def list_cart_items(self, tenant_id: str, user_id: str, *, limit: int, cursor: str | None) -> Page:
        """The user's cart items, newest first (index gsi1, one Query a page)."""
        items, next_cursor = newest_first_in_gsi1(
            self.table,
            keys.cart_items_of_user(tenant_id, user_id),
            keys.cart_item_pk(tenant_id, ""),
            limit=limit,
            cursor=cursor,
        )
        return Page(items=[CartItemRecord.from_item(i) for i in items], next_cursor=next_cursor)

    def list_external_cart(self, tenant_id: str, external_cart_id: str, *, limit: int, cursor: str | None) -> Page:
        """The items of an external cart of the tenant, oldest first (its own partition)."""
        pk = keys.external_cart_pk(tenant_id, external_cart_id)
        start = decode_cursor(cursor, exact={"pk": pk}, prefixes={"sk": keys.CART_POINTER_PREFIX})
        items, last = self.table.query_page(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            values={":pk": pk, ":prefix": keys.CART_POINTER_PREFIX},
            limit=limit,
            start_key=start,
        )
        return Page(items=[CartItemRecord.from_item(i) for i in items], next_cursor=encode_cursor(last))
