"""moto 5 copies the whole table once per *item* of a TransactWriteItems call, to roll back on
failure: a 100-item transaction on a table of a few thousand items takes seconds, and a 500-file
photo book minutes. This copies each table once per call, which is all the rollback needs."""

from __future__ import annotations

import copy
import threading
import types
from typing import Any

_active = threading.local()


def _deepcopy(obj: Any, memo: dict[int, Any] | None = None) -> Any:
    cache: dict[int, Any] | None = getattr(_active, "cache", None)
    if cache is None or type(obj).__name__ != "Table":
        return copy.deepcopy(obj, memo)
    if id(obj) not in cache:
        cache[id(obj)] = copy.deepcopy(obj, memo)
    return cache[id(obj)]


def install() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent)."""
    from moto.dynamodb import models

    if getattr(models.DynamoDBBackend.transact_write_items, "copies_once", False):
        return
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _active.cache = {}
        try:
            original(self, transact_items)
        finally:
            _active.cache = None

    transact_write_items.copies_once = True  # type: ignore[attr-defined]
    models.copy = types.SimpleNamespace(deepcopy=_deepcopy, copy=copy.copy)  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
