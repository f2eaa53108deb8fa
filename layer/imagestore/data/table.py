"""The single table: typed access over the low-level client, SDK errors mapped to domain errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from imagestore.errors import ConditionFailed, RefusedByTable, Throttled, TransactionConflict, Unavailable
from imagestore.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
}

Item = dict[str, Any]
# BatchGetItem calls of one batch_get in flight at once (the client's pool has 50 connections; reads
# are spread over partitions by the table's 3,000 RCU each, so 4 calls of a 400-image book fit).
BATCH_GETS_IN_FLIGHT = 4


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> Item:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


@contextmanager
def sdk_errors() -> Iterator[None]:
    """Turn DynamoDB client errors into domain errors; let anything else propagate."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed(str(exc)) from exc
        if code == "TransactionCanceledException":
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if any(r in _THROTTLING for r in reasons):
                raise Throttled("the table is busy; retry") from exc
            raise TransactionConflict(reasons) from exc
        if code in _THROTTLING:
            raise Throttled("the table is busy; retry") from exc
        if code in ("InternalServerError", "ServiceUnavailable"):
            raise Unavailable("the table failed to answer; retry") from exc
        if code in ("TransactionConflictException", "TransactionInProgressException"):
            raise TransactionConflict(["TransactionConflict"]) from exc
        if code == "ValidationException":
            # Requests are built from validated input, so this is an input the checks let through (a
            # key value the table cannot take): the client's request is refused, and the gap is logged.
            logger.warning("request refused by the table", reason=exc.response.get("Error", {}).get("Message"))
            raise RefusedByTable("the request names a key or value the table cannot take") from exc
        raise


class Table:
    """One DynamoDB table, reached through an injected client, or through a function that makes the
    client when the table is first used (as imagestore.data.storage.ImageBucket)."""

    def __init__(self, client: DynamoDBClient | Callable[[], DynamoDBClient], name: str) -> None:
        self._client = client
        self.name = name

    @cached_property
    def client(self) -> DynamoDBClient:
        return self._client() if callable(self._client) else self._client

    def get(self, key: Mapping[str, str], *, consistent: bool = True) -> Item | None:
        with sdk_errors():
            response = self.client.get_item(TableName=self.name, Key=serialize(key), ConsistentRead=consistent)
        raw = response.get("Item")
        return deserialize(raw) if raw else None

    def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": serialize(item)}
        _add_expression_args(kwargs, condition, names, values)
        with sdk_errors():
            self.client.put_item(**kwargs)

    def update(
        self,
        key: Mapping[str, str],
        expression: str,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        return_new: bool = True,
    ) -> Item | None:
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize(key),
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW" if return_new else "NONE",
        }
        _add_expression_args(kwargs, condition, names, values)
        with sdk_errors():
            response = self.client.update_item(**kwargs)
        raw = response.get("Attributes")
        return deserialize(raw) if raw else None

    def update_with_puts(
        self,
        key: Mapping[str, str],
        expression: str,
        puts: Sequence[Mapping[str, Any]],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """An UpdateItem and, in the same transaction, the items of `puts` (without puts: the UpdateItem
        alone). ConditionFailed when the update's condition does not hold: then nothing is written."""
        if not puts:
            self.update(key, expression, condition=condition, names=names, values=values, return_new=False)
            return
        update: dict[str, Any] = {"Key": dict(key), "UpdateExpression": expression}
        if condition:
            update["ConditionExpression"] = condition
        if names:
            update["ExpressionAttributeNames"] = dict(names)
        if values:
            update["ExpressionAttributeValues"] = dict(values)
        try:
            self.transact_write([{"Update": update}, *({"Put": {"Item": dict(item)}} for item in puts)])
        except TransactionConflict as conflict:
            if conflict.reasons[:1] == ["ConditionalCheckFailed"]:
                raise ConditionFailed(str(conflict)) from None
            raise

    def delete(
        self,
        key: Mapping[str, str],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        return_old: bool = False,
    ) -> Item | None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": serialize(key)}
        if return_old:
            kwargs["ReturnValues"] = "ALL_OLD"
        _add_expression_args(kwargs, condition, names, values)
        with sdk_errors():
            response = self.client.delete_item(**kwargs)
        raw = response.get("Attributes")
        return deserialize(raw) if raw else None

    def query_page(
        self,
        *,
        key_condition: str,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
        index: str | None = None,
        limit: int | None = None,
        forward: bool = True,
        start_key: Mapping[str, Any] | None = None,
        consistent: bool = False,
        filter_expression: str | None = None,
    ) -> tuple[list[Item], Item | None]:
        """One Query request: its items and the LastEvaluatedKey (None on the last page)."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": serialize(values),
            "ScanIndexForward": forward,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        if index:
            kwargs["IndexName"] = index
        else:
            kwargs["ConsistentRead"] = consistent
        if limit:
            kwargs["Limit"] = limit
        if start_key:
            kwargs["ExclusiveStartKey"] = serialize(start_key)
        if filter_expression:
            kwargs["FilterExpression"] = filter_expression
        with sdk_errors():
            response = self.client.query(**kwargs)
        last = response.get("LastEvaluatedKey")
        return [deserialize(i) for i in response.get("Items", [])], (deserialize(last) if last else None)

    def query_all(self, **kwargs: Any) -> list[Item]:
        """Every page of a Query (for partitions whose size is bounded by design)."""
        items: list[Item] = []
        start: Item | None = None
        while True:
            page, start = self.query_page(start_key=start, **kwargs)
            items.extend(page)
            if start is None:
                return items

    def batch_get(self, keys: Sequence[Mapping[str, str]], *, consistent: bool = True) -> list[Item]:
        """BatchGetItem in calls of 100 keys, BATCH_GETS_IN_FLIGHT at once (a 400-image book: 4 calls in
        the time of one); unprocessed keys are asked again until none remain."""
        unique = list({(k["pk"], k["sk"]): k for k in keys}.values())
        chunks = [unique[start : start + 100] for start in range(0, len(unique), 100)]
        if len(chunks) <= 1 or BATCH_GETS_IN_FLIGHT <= 1:
            return [item for chunk in chunks for item in self._batch_get_chunk(chunk, consistent)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(BATCH_GETS_IN_FLIGHT, len(chunks))) as pool:
            found = list(pool.map(lambda chunk: self._batch_get_chunk(chunk, consistent), chunks))
        return [item for items in found for item in items]

    def _batch_get_chunk(self, chunk: Sequence[Mapping[str, str]], consistent: bool) -> list[Item]:
        found: list[Item] = []
        request: dict[str, Any] = {self.name: {"Keys": [serialize(k) for k in chunk], "ConsistentRead": consistent}}
        for attempt in range(8):
            with sdk_errors():
                response = self.client.batch_get_item(RequestItems=request)
            found.extend(deserialize(i) for i in response.get("Responses", {}).get(self.name, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise Throttled("the table is busy; retry")

    def batch_write(self, puts: Sequence[Mapping[str, Any]] = (), deletes: Sequence[Mapping[str, str]] = ()) -> None:
        """BatchWriteItem in calls of 25; unprocessed items are retried with backoff, never dropped."""
        requests = [{"PutRequest": {"Item": serialize(i)}} for i in puts]
        requests += [{"DeleteRequest": {"Key": serialize(k)}} for k in deletes]
        for start in range(0, len(requests), 25):
            pending: list[Any] = requests[start : start + 25]
            for attempt in range(10):
                with sdk_errors():
                    response = self.client.batch_write_item(RequestItems={self.name: pending})
                pending = list(response.get("UnprocessedItems", {}).get(self.name, []))
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise Throttled("the table is busy; retry")

    def transact_write(self, operations: Sequence[Mapping[str, Any]], *, token: str | None = None) -> None:
        """TransactWriteItems; each operation is {"Put"|"Update"|"Delete"|"ConditionCheck": {...}} in
        plain Python values (Key/Item/ExpressionAttributeValues are serialized here)."""
        wire = [_serialize_operation(op, self.name) for op in operations]
        kwargs: dict[str, Any] = {"TransactItems": wire}
        if token:
            kwargs["ClientRequestToken"] = token
        with sdk_errors():
            self.client.transact_write_items(**kwargs)


def _add_expression_args(
    kwargs: dict[str, Any], condition: str | None, names: Mapping[str, str] | None, values: Mapping[str, Any] | None
) -> None:
    if condition:
        kwargs["ConditionExpression"] = condition
    if names:
        kwargs["ExpressionAttributeNames"] = dict(names)
    if values:
        kwargs["ExpressionAttributeValues"] = serialize(values)


def _serialize_operation(operation: Mapping[str, Any], table_name: str) -> dict[str, Any]:
    ((kind, body),) = operation.items()
    wire: dict[str, Any] = {"TableName": table_name}
    for name, value in body.items():
        if name in ("Key", "Item", "ExpressionAttributeValues"):
            wire[name] = serialize(value)
        else:
            wire[name] = value
    return {kind: wire}
