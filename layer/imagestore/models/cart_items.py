"""The cart item entity: a product in a shop's cart, optionally made from a project.

A cart item is a holder: its partition T#{tid}#CART#{id} has the META item (listed under its user
in gsi1, in the expiry index for the tenant's cart retention) and, when it was made from a
project, hold links to that project's files. A cart item of an external (shop-side) cart also has
a small pointer item in the external cart's partition, named in META's companionKeys so that
removing the cart item removes the pointer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from imagestore import keys
from imagestore.models.files import TTL_GRACE_SECONDS, expiry_attributes

ACTIVE = "active"


class CartItemRecord(BaseModel):
    """A cart item's META item."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "cartItem"
    POINTER_ENTITY: ClassVar[str] = "cartPointer"

    tenant_id: str
    user_id: str
    cart_item_id: str
    product_sku: str
    quantity: int
    created_at: int
    expires_at: int
    project_id: str | None = None
    project_version: int | None = None
    external_cart_id: str | None = None
    file_count: int = 0
    status: str = ACTIVE
    # Made from a project (holds v2): a copy of the version it pinned (keys.cart_item_manifest_key),
    # and that version's name and product type: what an order of the cart item freezes, whatever
    # happened to the project since. Absent on cart items made before it was kept.
    manifest_key: str | None = None
    project_name: str | None = None
    project_product_type: str | None = None
    pin_key: dict[str, str] | None = None  # the pin on the project's version (holds v2; legacy items hold links)

    @property
    def pk(self) -> str:
        return keys.cart_item_pk(self.tenant_id, self.cart_item_id)

    @property
    def key(self) -> dict[str, str]:
        return keys.cart_item_key(self.tenant_id, self.cart_item_id)

    @property
    def pointer_key(self) -> dict[str, str] | None:
        if self.external_cart_id is None:
            return None
        return keys.cart_pointer_key(self.tenant_id, self.external_cart_id, self.cart_item_id)

    def is_live(self, now: float) -> bool:
        return self.status == ACTIVE and self.expires_at > now

    def _attributes(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "tenantId": self.tenant_id,
            "userId": self.user_id,
            "cartItemId": self.cart_item_id,
            "productSku": self.product_sku,
            "quantity": self.quantity,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
            "fileCount": self.file_count,
            "status": self.status,
        }
        for name, value in (
            ("projectId", self.project_id),
            ("projectVersion", self.project_version),
            ("externalCartId", self.external_cart_id),
        ):
            if value is not None:
                item[name] = value
        return item

    def to_item(self, expiry_shards: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self.key,
            "entity": self.ENTITY,
            **self._attributes(),
            "gsi1pk": keys.cart_items_of_user(self.tenant_id, self.user_id),
            "gsi1sk": keys.by_time(self.created_at, self.cart_item_id),
            **expiry_attributes(self.key, self.expires_at, expiry_shards),
        }
        if self.pointer_key is not None:
            item["companionKeys"] = [self.pointer_key]
        for name, value in (
            ("manifestKey", self.manifest_key),
            ("projectName", self.project_name),
            ("projectProductType", self.project_product_type),
        ):
            if value is not None:
                item[name] = value
        return item

    def to_pointer_item(self) -> dict[str, Any]:
        """The external cart's copy of this item (deleted with it; TTL only as a backstop)."""
        assert self.pointer_key is not None
        return {
            **self.pointer_key,
            "entity": self.POINTER_ENTITY,
            **self._attributes(),
            "ttl": self.expires_at + TTL_GRACE_SECONDS,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> CartItemRecord:
        return cls(
            tenant_id=item["tenantId"],
            user_id=item["userId"],
            cart_item_id=item["cartItemId"],
            product_sku=item["productSku"],
            quantity=int(item["quantity"]),
            created_at=int(item["createdAt"]),
            expires_at=int(item["expiresAt"]),
            project_id=item.get("projectId"),
            project_version=int(item["projectVersion"]) if "projectVersion" in item else None,
            external_cart_id=item.get("externalCartId"),
            file_count=int(item.get("fileCount", 0)),
            status=item.get("status", ACTIVE),
            manifest_key=item.get("manifestKey"),
            project_name=item.get("projectName"),
            project_product_type=item.get("projectProductType"),
            pin_key=dict(item["pinKey"]) if item.get("pinKey") else None,
        )
