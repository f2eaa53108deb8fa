"""The outbox relay: producers write each webhook event into the event log in the same transaction as the
change it reports; the table's stream hands the keys of those items to this relay, which reads them and
puts them on the bus (the EventBridge rule queues them for webhookDelivery). A relay that fails before or
during PutEvents raises: Lambda retries the stream batch (bisecting it), so an event committed with its
change is put on the bus at least once."""

from __future__ import annotations

from collections.abc import Sequence

from imagestore.data.webhooks import WebhookBus, WebhookStore
from imagestore.observability import logger

PUT_EVENTS_LIMIT = 10  # entries a PutEvents call takes


def relay(event_keys: Sequence[dict[str, str]], store: WebhookStore, bus: WebhookBus) -> int:
    """Put the logged events at these keys on the bus (an event that is gone, its log entry expired, is
    skipped); how many were put. Throttled (or any SDK error) propagates: the batch is retried."""
    if not event_keys:
        return 0
    events = store.events_at(event_keys)
    for start in range(0, len(events), PUT_EVENTS_LIMIT):
        bus.put(events[start : start + PUT_EVENTS_LIMIT])
    logger.info("webhook events relayed", event_ids=[e.id for e in events], missing=len(event_keys) - len(events))
    return len(events)
