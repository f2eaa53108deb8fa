"""The local stack's table-stream event source (imagestore_local/streams.py) against a fake stream: only
INSERT/MODIFY records the filter lets through, batchSize at a time, from the end of the shards open at start;
a failing batch retried and bisected down to the record that fails; that one sent to the on-failure queue."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from imagestore_local.streams import StreamPoller
from imagestore_local.ttl import StreamTarget

ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/1"


class FakeStream:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def add(self, name: str, sk: str, n: int) -> None:
        self.records.append(
            {
                "eventID": str(len(self.records)),
                "eventName": name,
                "dynamodb": {
                    "Keys": {"pk": {"S": f"p{n}"}, "sk": {"S": sk}},
                    "SequenceNumber": str(len(self.records)),
                    "ApproximateCreationDateTime": datetime(2026, 12, 8, tzinfo=UTC),
                },
            }
        )

    # the dynamodb and dynamodbstreams clients' calls the poller makes
    def describe_table(self, TableName: str) -> dict[str, Any]:
        return {"Table": {"LatestStreamArn": ARN}}

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "s1", "SequenceNumberRange": {}}]}}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str) -> dict[str, Any]:
        return {"ShardIterator": str(len(self.records) if ShardIteratorType == "LATEST" else 0)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        start = int(ShardIterator)
        return {"Records": self.records[start:], "NextShardIterator": str(len(self.records))}


def target(batch_size: int = 4, retries: int = 3) -> StreamTarget:
    fn = SimpleNamespace(
        service=SimpleNamespace(key="project"),
        key="webhookRelay",
        arn="arn:aws:lambda:eu-west-1:123456789012:function:relay",
        events=[
            {
                "stream": {
                    "maximumRetryAttempts": retries,
                    "bisectBatchOnFunctionError": True,
                    "destinations": {"onFailure": {"arn": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}}},
                }
            }
        ],
    )
    pattern = {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"sk": {"S": ["EVENT"]}}}}
    return StreamTarget(fn=fn, table="t", arn=ARN, batch_size=batch_size, patterns=(pattern,))  # type: ignore[arg-type]


def test_only_new_filtered_records_are_handed_over_in_batches() -> None:
    stream = FakeStream()
    stream.add("INSERT", "EVENT", 0)  # before the start: LATEST skips it
    batches: list[list[str]] = []
    poller = StreamPoller(
        stream,
        stream,
        [target()],
        lambda fn, event: batches.append([r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]),
    )
    poller.prime()
    for n in range(1, 7):
        stream.add("INSERT", "EVENT", n)
    stream.add("MODIFY", "EVENT", 7)
    stream.add("INSERT", "META", 8)  # not the event log's
    stream.add("REMOVE", "EVENT", 9)  # removals are the TTL reaper's
    assert poller.poll_once() == 7
    assert batches == [["p1", "p2", "p3", "p4"], ["p5", "p6", "p7"]]
    assert poller.poll_once() == 0


def test_a_failing_batch_is_bisected_down_to_the_record_that_fails_which_goes_to_the_on_failure_queue() -> None:
    stream = FakeStream()
    invoked: list[list[str]] = []
    sent: list[tuple[Any, str]] = []

    def invoke(fn: Any, event: dict[str, Any]) -> None:
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]
        invoked.append(keys)
        assert all(isinstance(r["dynamodb"]["ApproximateCreationDateTime"], float) for r in event["Records"])
        assert all(r["eventSourceARN"] == ARN for r in event["Records"])
        if "p3" in keys:
            raise RuntimeError("the worker died")

    poller = StreamPoller(
        stream,
        stream,
        [target(batch_size=4, retries=3)],
        invoke,
        send_to_queue=lambda fn, destination, body: sent.append((destination, body)) is None,
        sleep=lambda seconds: None,
    )
    poller.prime()
    for n in range(1, 5):
        stream.add("INSERT", "EVENT", n)
    poller.poll_once()
    delivered = [k for keys in invoked if "p3" not in keys for k in keys]
    assert sorted(delivered) == ["p1", "p2", "p4"]  # the others of the batch got through
    assert invoked[0] == ["p1", "p2", "p3", "p4"] and ["p3"] in invoked
    assert poller.failed_batches == 1
    [(destination, body)] = sent
    assert destination == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}
    assert '"batchSize": 1' in body and "RetryAttemptsExhausted" in body
