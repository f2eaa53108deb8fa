"""Access patterns of orders: begin, place (idempotent per shop reference), load, resubmit."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from imagestore import keys
from imagestore.data.pagination import Page, newest_first_in_gsi1
from imagestore.data.partitions import read_partition
from imagestore.data.table import Table
from imagestore.data.webhooks import event_log_items
from imagestore.errors import Throttled, TransactionConflict
from imagestore.models.holds import FileRef
from imagestore.models.orders import FrozenProject, OrderRecord
from imagestore.models.webhooks import WebhookEvent

ORDER_EVENT_SOURCE = "imagestore.orders"


@dataclass
class OrderPartition:
    """Everything in an order's partition, read with one Query."""

    order: OrderRecord | None
    projects: list[FrozenProject] = field(default_factory=list)
    links: list[FileRef] = field(default_factory=list)


class OrderRefTaken(Exception):
    """The shop's order reference already names an order."""


class OrderStore:
    """Orders of the single table."""

    def __init__(self, table: Table, expiry_shards: int) -> None:
        self.table = table
        self.expiry_shards = expiry_shards

    def order_id_of_ref(self, tenant_id: str, external_order_ref: str) -> tuple[str, str] | None:
        """(order id, user id) already placed under the shop's reference, or None."""
        item = self.table.get(keys.order_ref_key(tenant_id, external_order_ref))
        return (item["orderId"], item["userId"]) if item else None

    def place(
        self,
        record: OrderRecord,
        projects: Sequence[FrozenProject],
        pins: Sequence[Mapping[str, Any]],
        events: Sequence[WebhookEvent] = (),
    ) -> None:
        """Write the placed order in one transaction: META, the claim of the shop's reference, the frozen
        projects and their pins (imagestore.data.projects.ProjectStore.pin_operations), and its webhook
        events (the event log is the outbox: imagestore.data.webhooks.event_log_item). OrderRefTaken
        when the reference names another order; TransactionConflict when a project changed meanwhile."""
        try:
            self.table.transact_write(
                [
                    {
                        "Put": {
                            "Item": record.to_item(self.expiry_shards),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Put": {"Item": record.to_ref_item(), "ConditionExpression": "attribute_not_exists(pk)"}},
                    *({"Put": {"Item": p.to_item()}} for p in projects),
                    *pins,
                    *({"Put": {"Item": item}} for item in event_log_items(events, record.created_at)),
                ]
            )
        except TransactionConflict as conflict:
            if conflict.reasons[1:2] == ["ConditionalCheckFailed"]:
                raise OrderRefTaken(record.external_order_ref) from None
            raise

    def list_orders(self, tenant_id: str, user_id: str, *, limit: int, cursor: str | None) -> Page:
        """The user's placed orders, newest first (index gsi1, one Query a page)."""
        items, next_cursor = newest_first_in_gsi1(
            self.table,
            keys.orders_of_user(tenant_id, user_id),
            keys.order_pk(tenant_id, ""),
            limit=limit,
            cursor=cursor,
        )
        return Page(items=[OrderRecord.from_item(i) for i in items], next_cursor=next_cursor)

    def load_order(self, tenant_id: str, order_id: str) -> OrderPartition:
        """META, frozen projects and hold links of an order: one Query (a page per MB)."""
        holder = read_partition(self.table, keys.order_pk(tenant_id, order_id))
        return OrderPartition(
            order=OrderRecord.from_item(holder.meta) if holder.meta else None,
            projects=[
                FrozenProject.from_item(i) for i in holder.others if i["sk"].startswith(keys.ORDER_PROJECT_PREFIX)
            ],
            links=holder.links,
        )

    def add_resubmission(
        self,
        record: OrderRecord,
        resubmission_id: str,
        manifest_key: str,
        now: int,
        events: Sequence[WebhookEvent] = (),
    ) -> None:
        """Record a resubmission, with its webhook events in the same transaction; its manifest object is
        deleted with the order (documentKey)."""
        item = {
            "pk": record.pk,
            "sk": keys.order_resubmission_sk(resubmission_id),
            "entity": "resubmission",
            "orderId": record.order_id,
            "resubmissionId": resubmission_id,
            "createdAt": now,
            "documentKey": manifest_key,
        }
        if not events:
            self.table.put(item)
            return
        self.table.transact_write([{"Put": {"Item": it}} for it in (item, *event_log_items(events, now))])


class OrderEvents:
    """Events about orders, on the service's EventBridge bus."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def order_resubmitted(self, detail: dict[str, Any]) -> None:
        """Put an `OrderResubmitted` event; a rejected entry is retryable (429), never ignored."""
        try:
            response = self.client.put_events(
                Entries=[
                    {
                        "Source": ORDER_EVENT_SOURCE,
                        "DetailType": "OrderResubmitted",
                        "Detail": json.dumps(detail, separators=(",", ":")),
                        "EventBusName": self.bus_name,
                    }
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ThrottlingException", "InternalException"):
                raise Throttled("the event bus is busy; retry") from exc
            raise
        if response.get("FailedEntryCount"):
            raise Throttled("the event bus refused the resubmission event; retry")
