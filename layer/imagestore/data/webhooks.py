"""Access patterns of webhooks: a tenant's endpoints, its event log (replays; the producers' outbox), its
delivery log; the queue deliveries go through; the bus the relay puts events on."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from imagestore import keys
from imagestore.data.table import Table
from imagestore.errors import ConditionFailed, NotFound, Throttled
from imagestore.models.webhooks import EVENT_SOURCE, AttemptRecord, EndpointRecord, SecretRecord, WebhookEvent

EVENT_LOG_SECONDS = 30 * 86400  # events can be replayed for 30 days
ATTEMPT_LOG_SECONDS = 7 * 86400  # the delivery log keeps 7 days of attempts


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals back to ints (every number stored here is an integer)."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _endpoint(item: dict[str, Any]) -> EndpointRecord:
    return EndpointRecord.model_validate(_plain(item))


def event_log_item(event: WebhookEvent, at: int) -> dict[str, Any]:
    """The event as the event log keeps it (30 days, for replays), which is also the outbox: a producer
    writes it in the same transaction as the change it reports, and the table's stream hands its key to
    the webhookRelay function, which puts it on the bus. A change and its event are stored together or
    not at all."""
    return {
        **keys.webhook_event_key(event.tenantId, event.id),
        "entity": "webhookEvent",
        "gsi1pk": keys.webhook_events_by_time(event.tenantId),
        "gsi1sk": keys.by_time(at, event.id),
        "at": at,
        "event": event.model_dump_json(),
        "ttl": at + EVENT_LOG_SECONDS,
    }


def event_log_items(events: Sequence[WebhookEvent], at: int) -> list[dict[str, Any]]:
    return [event_log_item(e, at) for e in events]


class WebhookStore:
    """Webhook items of the single table."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # --- endpoints --------------------------------------------------------------------------------

    def add_endpoint(self, record: EndpointRecord) -> None:
        item = {
            **keys.webhook_endpoint_key(record.tenantId, record.endpointId),
            "entity": "webhookEndpoint",
            **record.model_dump(mode="json", exclude_none=True),
        }
        self.table.put(item, condition="attribute_not_exists(pk)")

    def endpoint(self, tenant_id: str, endpoint_id: str, *, consistent: bool = True) -> EndpointRecord | None:
        item = self.table.get(keys.webhook_endpoint_key(tenant_id, endpoint_id), consistent=consistent)
        return _endpoint(item) if item else None

    def endpoints(self, tenant_id: str) -> list[EndpointRecord]:
        """Every endpoint of the tenant (a handful: registration caps them)."""
        items = self.table.query_all(
            key_condition="pk = :pk AND begins_with(sk, :ep)",
            consistent=True,
            values={":pk": keys.webhook_endpoints_pk(tenant_id), ":ep": keys.WEBHOOK_ENDPOINT_PREFIX},
        )
        return [_endpoint(i) for i in items]

    def delete_endpoint(self, tenant_id: str, endpoint_id: str) -> None:
        try:
            self.table.delete(keys.webhook_endpoint_key(tenant_id, endpoint_id), condition="attribute_exists(pk)")
        except ConditionFailed:
            raise NotFound(f"webhook endpoint {endpoint_id} not found") from None

    def replace_secrets(self, record: EndpointRecord, secrets: Sequence[SecretRecord]) -> None:
        """The endpoint's secrets, if nobody changed them since `record` was read (else 409 by the caller)."""
        old = [s.model_dump(mode="json", exclude_none=True) for s in record.secrets]
        new = [s.model_dump(mode="json", exclude_none=True) for s in secrets]
        try:
            self.table.update(
                keys.webhook_endpoint_key(record.tenantId, record.endpointId),
                "SET secrets = :new",
                condition="secrets = :old",
                values={":new": new, ":old": old},
                return_new=False,
            )
        except ConditionFailed:
            raise NotFound(f"webhook endpoint {record.endpointId} not found or changed; read it again") from None

    def disable(self, tenant_id: str, endpoint_id: str, now: int) -> bool:
        """Stop deliveries to the endpoint; True when this call disabled it (False: already, or gone)."""
        try:
            self.table.update(
                keys.webhook_endpoint_key(tenant_id, endpoint_id),
                "SET #status = :disabled, disabledAt = :now",
                condition="attribute_exists(pk) AND #status = :enabled",
                names={"#status": "status"},
                values={":disabled": "disabled", ":enabled": "enabled", ":now": now},
                return_new=False,
            )
        except ConditionFailed:
            return False
        return True

    def enable(self, tenant_id: str, endpoint_id: str) -> None:
        """Deliver to the endpoint again (its failing period starts afresh); 404 when it is gone."""
        try:
            self.table.update(
                keys.webhook_endpoint_key(tenant_id, endpoint_id),
                "SET #status = :enabled REMOVE failingSince, disabledAt",
                condition="attribute_exists(pk)",
                names={"#status": "status"},
                values={":enabled": "enabled"},
                return_new=False,
            )
        except ConditionFailed:
            raise NotFound(f"webhook endpoint {endpoint_id} not found") from None

    def record_failure(self, tenant_id: str, endpoint_id: str, now: int) -> int | None:
        """Mark the endpoint failing (since the first failure after its last success); its failingSince,
        or None when the endpoint is gone."""
        try:
            item = self.table.update(
                keys.webhook_endpoint_key(tenant_id, endpoint_id),
                "SET failingSince = if_not_exists(failingSince, :now), lastFailureAt = :now",
                condition="attribute_exists(pk)",
                values={":now": now},
            )
        except ConditionFailed:
            return None
        return int(item["failingSince"]) if item else None

    def clear_failure(self, tenant_id: str, endpoint_id: str) -> None:
        """A success: the endpoint is no longer failing (one write only when it was)."""
        with contextlib.suppress(ConditionFailed):
            self.table.update(
                keys.webhook_endpoint_key(tenant_id, endpoint_id),
                "REMOVE failingSince",
                condition="attribute_exists(failingSince)",
                return_new=False,
            )

    # --- the event log ------------------------------------------------------------------------------

    def put_event(self, event: WebhookEvent, at: int) -> None:
        """Keep the event (the same id again overwrites it with the same content)."""
        self.table.put(event_log_item(event, at))

    def events_at(self, keys_: Sequence[dict[str, str]]) -> list[WebhookEvent]:
        """The logged events at these keys (the relay's read: the stream records carry the keys only);
        one that is gone is left out."""
        items = self.table.batch_get(keys_, consistent=True)
        return [WebhookEvent.model_validate_json(i["event"]) for i in items if i.get("entity") == "webhookEvent"]

    def event(self, tenant_id: str, event_id: str) -> WebhookEvent | None:
        item = self.table.get(keys.webhook_event_key(tenant_id, event_id))
        return WebhookEvent.model_validate_json(item["event"]) if item else None

    def events_between(self, tenant_id: str, since: int, until: int, limit: int) -> tuple[list[WebhookEvent], bool]:
        """The tenant's events with since <= time <= until, oldest first, at most limit; and whether more are left."""
        items, last = self.table.query_page(
            index="gsi1",
            key_condition="gsi1pk = :pk AND gsi1sk BETWEEN :low AND :high",
            limit=limit,
            values={
                ":pk": keys.webhook_events_by_time(tenant_id),
                ":low": f"{since:012d}#",
                ":high": f"{until:012d}#~",
            },
        )
        return [WebhookEvent.model_validate_json(i["event"]) for i in items], last is not None

    # --- the delivery log ---------------------------------------------------------------------------

    def add_attempt(self, tenant_id: str, attempt: AttemptRecord, at_ms: int) -> None:
        self.table.put(
            {
                "pk": keys.webhook_attempts_pk(tenant_id, attempt.endpointId),
                "sk": keys.webhook_attempt_sk(at_ms, attempt.attemptId),
                "entity": "webhookAttempt",
                **attempt.model_dump(mode="json", exclude_none=True),
                "ttl": attempt.at + ATTEMPT_LOG_SECONDS,
            }
        )

    def attempts(self, tenant_id: str, endpoint_id: str, limit: int) -> list[AttemptRecord]:
        """The endpoint's most recent attempts, newest first."""
        items, _ = self.table.query_page(
            key_condition="pk = :pk",
            forward=False,
            limit=limit,
            values={":pk": keys.webhook_attempts_pk(tenant_id, endpoint_id)},
        )
        return [AttemptRecord.model_validate(_plain(i)) for i in items]


def _retryable(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    return code in (
        "ThrottlingException",
        "InternalException",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestThrottled",
        "AWS.SimpleQueueService.RequestThrottled",
        "KmsThrottled",
    )


class WebhookBus:
    """The relay (webhookRelay, from the table's stream) puts logged webhook events on the service's
    EventBridge bus; a rule sends them to the queue."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def put(self, events: Sequence[WebhookEvent]) -> None:
        """One PutEvents (at most 10 events); Throttled when any entry is refused (retry the whole call:
        a duplicate carries the same id)."""
        if not events:
            return
        try:
            response = self.client.put_events(
                Entries=[
                    {
                        "Source": EVENT_SOURCE,
                        "DetailType": e.type,
                        "Detail": e.model_dump_json(),
                        "EventBusName": self.bus_name,
                    }
                    for e in events
                ]
            )
        except ClientError as exc:
            if _retryable(exc):
                raise Throttled("the event bus is busy; retry") from exc
            raise
        if response.get("FailedEntryCount"):
            raise Throttled("the event bus refused a webhook event; retry")


class WebhookQueue:
    """The delivery queue: one message per (event, endpoint); retries are its visibility timeouts."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def send(self, bodies: Sequence[dict[str, Any]]) -> None:
        """Send every body (SendMessageBatch, 10 a call); Throttled when any is refused."""
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            try:
                response = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "MessageBody": json.dumps(body, separators=(",", ":"))}
                        for i, body in enumerate(chunk)
                    ],
                )
            except ClientError as exc:
                if _retryable(exc):
                    raise Throttled("the webhook queue is busy; retry") from exc
                raise
            if response.get("Failed"):
                raise Throttled(f"the webhook queue refused {len(response['Failed'])} message(s); retry")

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """Hide a received message for `seconds` (its next attempt): the backoff."""
        self.client.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
