"""The order entity: cart items frozen for the lab, kept for the tenant's order retention.

An order is a holder. Its partition T#{tid}#ORDER#{id} has
  META                  the order: its lines (cart item, SKU, quantity, project and version),
                        whether it was placed, its expiry (expiry index);
  PROJECT#{projectId}   a project frozen at the version the order was made from: its document
                        and its manifest (document and files) copied to S3 objects of the order's
                        (documentKey, manifestKey; deleted with the order), and a pin on that
                        version (pinKey: the project keeps the version's files for as long as the
                        order exists, whatever happens to the project and the cart items afterwards);
  RESUBMISSION#{id}     a resubmission to the lab; its manifest is an S3 object (documentKey);
  FILE#{fileId}         (orders placed before holds v2 only) hold links of the order's own.
The shop's order reference has a uniqueness item (keys.order_ref_key) naming the order; it is
written in the transaction that places the order and is META's companion.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from imagestore import keys
from imagestore.models.files import TTL_GRACE_SECONDS, expiry_attributes

ACTIVE = "active"


class OrderLine(BaseModel):
    """One cart item of an order, as it was when the order was placed."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    cart_item_id: str
    product_sku: str
    quantity: int
    project_id: str | None = None
    project_version: int | None = None

    def to_map(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "cartItemId": self.cart_item_id,
            "productSku": self.product_sku,
            "quantity": self.quantity,
        }
        if self.project_id is not None:
            value.update(projectId=self.project_id, projectVersion=self.project_version)
        return value

    @classmethod
    def from_map(cls, value: dict[str, Any]) -> OrderLine:
        return cls(
            cart_item_id=value["cartItemId"],
            product_sku=value["productSku"],
            quantity=int(value["quantity"]),
            project_id=value.get("projectId"),
            project_version=int(value["projectVersion"]) if "projectVersion" in value else None,
        )


class OrderRecord(BaseModel):
    """An order's META item. Until `placed`, it expires within the placement window (a crash
    while placing leaves nothing the sweep does not remove soon)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "order"

    tenant_id: str
    user_id: str
    order_id: str
    external_order_ref: str
    created_at: int
    expires_at: int
    lines: tuple[OrderLine, ...] = ()
    file_count: int = 0
    placed: bool = False
    status: str = ACTIVE

    @property
    def pk(self) -> str:
        return keys.order_pk(self.tenant_id, self.order_id)

    @property
    def key(self) -> dict[str, str]:
        return keys.order_key(self.tenant_id, self.order_id)

    @property
    def ref_key(self) -> dict[str, str]:
        return keys.order_ref_key(self.tenant_id, self.external_order_ref)

    def is_live(self, now: float) -> bool:
        return self.placed and self.status == ACTIVE and self.expires_at > now

    def to_item(self, expiry_shards: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self.key,
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "userId": self.user_id,
            "orderId": self.order_id,
            "externalOrderRef": self.external_order_ref,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
            "lines": [line.to_map() for line in self.lines],
            "fileCount": self.file_count,
            "placed": self.placed,
            "status": self.status,
            **expiry_attributes(self.key, self.expires_at, expiry_shards),
        }
        if self.placed:  # listed by GET /orders once placed
            item["gsi1pk"] = keys.orders_of_user(self.tenant_id, self.user_id)
            item["gsi1sk"] = keys.by_time(self.created_at, self.order_id)
            item["companionKeys"] = [self.ref_key]
        return item

    def to_ref_item(self) -> dict[str, Any]:
        """The uniqueness item of the shop's order reference (deleted with the order)."""
        return {
            **self.ref_key,
            "entity": "orderRef",
            "tenantId": self.tenant_id,
            "userId": self.user_id,
            "orderId": self.order_id,
            "externalOrderRef": self.external_order_ref,
            "ttl": self.expires_at + TTL_GRACE_SECONDS,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> OrderRecord:
        return cls(
            tenant_id=item["tenantId"],
            user_id=item["userId"],
            order_id=item["orderId"],
            external_order_ref=item["externalOrderRef"],
            created_at=int(item["createdAt"]),
            expires_at=int(item["expiresAt"]),
            lines=tuple(OrderLine.from_map(v) for v in item.get("lines", [])),
            file_count=int(item.get("fileCount", 0)),
            placed=bool(item.get("placed", False)),
            status=item.get("status", ACTIVE),
        )


class FrozenProject(BaseModel):
    """A project as an order froze it: its version, the files it used and where its document is."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ENTITY: ClassVar[str] = "orderProject"

    tenant_id: str
    order_id: str
    project_id: str
    version: int
    name: str
    product_type: str
    file_ids: tuple[str, ...] = ()  # legacy frozen projects only (their documentKey holds the document alone)
    document_key: str
    pin_key: dict[str, str] | None = None  # holds v2: the pin on the version, and its manifest
    manifest_key: str | None = None

    def to_item(self) -> dict[str, Any]:
        if self.pin_key is not None:
            return {
                "pk": keys.order_pk(self.tenant_id, self.order_id),
                "sk": keys.order_project_sk(self.project_id),
                "entity": self.ENTITY,
                "tenantId": self.tenant_id,
                "orderId": self.order_id,
                "projectId": self.project_id,
                "version": self.version,
                "name": self.name,
                "productType": self.product_type,
                "documentKey": self.document_key,
                "pinKey": self.pin_key,
                "manifestKey": self.manifest_key,
            }
        return {
            "pk": keys.order_pk(self.tenant_id, self.order_id),
            "sk": keys.order_project_sk(self.project_id),
            "entity": self.ENTITY,
            "tenantId": self.tenant_id,
            "orderId": self.order_id,
            "projectId": self.project_id,
            "version": self.version,
            "name": self.name,
            "productType": self.product_type,
            "fileIds": list(self.file_ids),
            "documentKey": self.document_key,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> FrozenProject:
        return cls(
            tenant_id=item["tenantId"],
            order_id=item["orderId"],
            project_id=item["projectId"],
            version=int(item["version"]),
            name=item["name"],
            product_type=item["productType"],
            file_ids=tuple(item.get("fileIds", [])),
            document_key=item["documentKey"],
            pin_key=dict(item["pinKey"]) if item.get("pinKey") else None,
            manifest_key=item.get("manifestKey"),
        )
