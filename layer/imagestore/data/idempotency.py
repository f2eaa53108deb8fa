"""Idempotency records: one item per (tenant, user, Idempotency-Key), claimed by a conditional put,
completed with the answer to replay, removed by TTL a day later (imagestore.idempotency)."""

from __future__ import annotations

import contextlib
import zlib
from dataclasses import dataclass, field
from typing import Any

from imagestore.data.table import Table
from imagestore.errors import ConditionFailed

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
# A stored answer is zlib-compressed JSON in a binary attribute; over this size it is not kept (an item
# holds at most 400 KB) and a replay says so instead (create answers are a few KB).
MAX_STORED_ANSWER_BYTES = 300_000


@dataclass(frozen=True)
class StoredAnswer:
    """What a completed request answered: status, the headers worth replaying and the body."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IdempotencyRecord:
    """The record a key already has: whose request (fingerprint), and its answer once completed
    (answer None while in progress, or when it was too large to keep)."""

    fingerprint: str
    status: str
    answer: StoredAnswer | None
    answer_kept: bool

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> IdempotencyRecord:
        answer = None
        raw = item.get("answerBody")
        if item.get("status") == COMPLETED and raw is not None:
            answer = StoredAnswer(
                int(item["answerStatus"]),
                zlib.decompress(bytes(raw)).decode("utf-8"),
                {str(k): str(v) for k, v in (item.get("answerHeaders") or {}).items()},
            )
        return cls(str(item.get("fingerprint", "")), str(item.get("status", "")), answer, raw is not None)


class IdempotencyStore:
    """The idempotency records of the single table."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def claim(
        self, key: dict[str, str], fingerprint: str, attempt: str, now: int, *, expires_at: int, locked_until: int
    ) -> IdempotencyRecord | None:
        """Claim the key for this attempt (one conditional put): None when claimed, so the request runs;
        otherwise the live record that holds it (one consistent read). A record whose TTL has passed
        (DynamoDB deletes within days, not at once), or an attempt whose lock ran out (its function
        died), no longer holds the key."""
        try:
            self.table.put(
                {
                    **key,
                    "entity": "idempotency",
                    "status": IN_PROGRESS,
                    "fingerprint": fingerprint,
                    "attempt": attempt,
                    "createdAt": now,
                    "lockedUntil": locked_until,
                    "ttl": expires_at,
                },
                condition="attribute_not_exists(pk) OR #ttl <= :now OR (#status = :running AND lockedUntil <= :now)",
                names={"#ttl": "ttl", "#status": "status"},
                values={":now": now, ":running": IN_PROGRESS},
            )
            return None
        except ConditionFailed:
            pass
        item = self.table.get(key)
        if item is None:  # removed between the put and the read: the holder gave up; say in progress
            return IdempotencyRecord(fingerprint, IN_PROGRESS, None, False)
        return IdempotencyRecord.from_item(item)

    def complete(self, key: dict[str, str], attempt: str, answer: StoredAnswer) -> bool:
        """Keep the answer of this attempt for replays; False when another attempt holds the key now."""
        body = zlib.compress(answer.body.encode("utf-8"))
        kept = len(body) <= MAX_STORED_ANSWER_BYTES
        sets = ["#status = :done", "answerStatus = :code", "answerHeaders = :headers"]
        values: dict[str, Any] = {
            ":done": COMPLETED,
            ":code": answer.status,
            ":headers": answer.headers,
            ":attempt": attempt,
        }
        if kept:
            sets.append("answerBody = :body")
            values[":body"] = body
        try:
            self.table.update(
                key,
                f"SET {', '.join(sets)} REMOVE lockedUntil",
                condition="attempt = :attempt",
                names={"#status": "status"},
                values=values,
                return_new=False,
            )
        except ConditionFailed:
            return False
        return True

    def release(self, key: dict[str, str], attempt: str) -> None:
        """Give the key up (the request failed: a retry runs it again), unless another attempt holds it."""
        with contextlib.suppress(ConditionFailed):
            self.table.delete(key, condition="attempt = :attempt", values={":attempt": attempt})
