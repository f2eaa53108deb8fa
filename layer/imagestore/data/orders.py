"""Access patterns of orders: begin, place (idempotent per shop reference), load, resubmit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from imagestore import keys
from imagestore.data.holders import read_partition
from imagestore.data.table import Table
from imagestore.errors import Throttled, TransactionConflict
from imagestore.models.holds import FileRef
from imagestore.models.orders import FrozenProject, OrderRecord
from imagestore.models.projects import ProjectStatus

ORDER_EVENT_SOURCE = "imagestore.orders"


@dataclass
class OrderPartition:
    """Everything in an order's partition, read with one Query."""

    order: OrderRecord | None
    projects: list[FrozenProject] = field(default_factory=list)
    links: list[FileRef] = field(default_factory=list)


class OrderStore:
    """Orders of the single table."""

    def __init__(self, table: Table, expiry_shards: int) -> None:
        self.table = table
        self.expiry_shards = expiry_shards

    def order_id_of_ref(self, tenant_id: str, external_order_ref: str) -> tuple[str, str] | None:
        """(order id, user id) already placed under the shop's reference, or None."""
        item = self.table.get(keys.order_ref_key(tenant_id, external_order_ref))
        return (item["orderId"], item["userId"]) if item else None

    def begin_order(self, record: OrderRecord, projects: list[FrozenProject]) -> None:
        """META (not yet placed, expiring within the placement window) and the frozen projects."""
        self.table.transact_write([
            {"Put": {"Item": record.to_item(self.expiry_shards), "ConditionExpression": "attribute_not_exists(pk)"}},
            *({"Put": {"Item": p.to_item()}} for p in projects),
        ])

    def place_order(self, record: OrderRecord) -> bool:
        """Claim the shop's reference and mark the order placed, in one transaction.

        False when the reference already names another order (the caller then drops this one).
        """
        placed = record.to_item(self.expiry_shards)
        try:
            self.table.transact_write([
                {"Put": {"Item": record.to_ref_item(), "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {
                    "Key": record.key,
                    "UpdateExpression": "SET placed = :true, expiresAt = :e, xpk = :xpk, xsk = :xsk, #ttl = :ttl, "
                                        "companionKeys = :companions",
                    "ConditionExpression": "#status = :active",
                    "ExpressionAttributeNames": {"#status": "status", "#ttl": "ttl"},
                    "ExpressionAttributeValues": {
                        ":true": True, ":e": record.expires_at, ":xpk": placed["xpk"], ":xsk": placed["xsk"],
                        ":ttl": placed["ttl"], ":companions": placed["companionKeys"],
                        ":active": ProjectStatus.ACTIVE.value,
                    },
                }},
            ])
        except TransactionConflict as conflict:
            if conflict.reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def load_order(self, tenant_id: str, order_id: str) -> OrderPartition:
        """META, frozen projects and hold links of an order: one Query (a page per MB)."""
        holder = read_partition(self.table, keys.order_pk(tenant_id, order_id))
        return OrderPartition(
            order=OrderRecord.from_item(holder.meta) if holder.meta else None,
            projects=[FrozenProject.from_item(i) for i in holder.others
                      if i["sk"].startswith(keys.ORDER_PROJECT_PREFIX)],
            links=holder.links,
        )

    def add_resubmission(self, record: OrderRecord, resubmission_id: str, manifest_key: str, now: int) -> None:
        """Record a resubmission; its manifest object is deleted with the order (documentKey)."""
        self.table.put({
            "pk": record.pk, "sk": keys.order_resubmission_sk(resubmission_id), "entity": "resubmission",
            "orderId": record.order_id, "resubmissionId": resubmission_id, "createdAt": now,
            "documentKey": manifest_key,
        })


class OrderEvents:
    """Events about orders, on the service's EventBridge bus."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def order_resubmitted(self, detail: dict[str, Any]) -> None:
        """Put an `OrderResubmitted` event; a rejected entry is retryable (429), never ignored."""
        try:
            response = self.client.put_events(Entries=[{
                "Source": ORDER_EVENT_SOURCE, "DetailType": "OrderResubmitted",
                "Detail": json.dumps(detail, separators=(",", ":")), "EventBusName": self.bus_name,
            }])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ThrottlingException", "InternalException"):
                raise Throttled("the event bus is busy; retry") from exc
            raise
        if response.get("FailedEntryCount"):
            raise Throttled("the event bus refused the resubmission event; retry")
