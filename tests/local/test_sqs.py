"""The local stack's SQS emulator (imagestore_local/sqs.py), on its own: visibility timeouts, receive counts,
ChangeMessageVisibility as the webhook delivery's backoff, partial batch responses of the event source
mapping, the redrive to the dead-letter queue after maxReceiveCount, retention. A fake clock for the queue
semantics; the mapping test runs its poller thread for about a second."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from imagestore_local import sqs as sqs_module
from imagestore_local.sqs import LocalSqs, Queue, QueueError

BASE = "http://127.0.0.1:1"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(sqs_module, "time", SimpleNamespace(time=fake.time))
    return fake


def queues(
    visibility: int = 30, max_receives: int | None = 3, retention: int = 345600
) -> tuple[LocalSqs, Queue, Queue]:
    dlq = Queue(name="hooks-dlq", region="eu-west-1")
    queue = Queue(
        name="hooks",
        region="eu-west-1",
        visibility_timeout=visibility,
        retention_seconds=retention,
        dead_letter=dlq if max_receives else None,
        max_receive_count=max_receives,
    )
    return LocalSqs([queue, dlq], BASE), queue, dlq


def receive(sqs: LocalSqs, queue: Queue, n: int = 10) -> list[dict[str, Any]]:
    return sqs.call("ReceiveMessage", {"QueueUrl": queue.url(BASE), "MaxNumberOfMessages": n})["Messages"]


def test_a_received_message_is_hidden_for_the_visibility_timeout_then_received_again(clock: Clock) -> None:
    sqs, queue, _ = queues(visibility=30)
    sqs.call("SendMessage", {"QueueUrl": queue.url(BASE), "MessageBody": "a"})
    [first] = receive(sqs, queue)
    assert first["Body"] == "a" and first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert receive(sqs, queue) == []  # in flight
    clock.now += 29.9
    assert receive(sqs, queue) == []
    clock.now += 0.2
    [again] = receive(sqs, queue)
    assert again["MessageId"] == first["MessageId"] and again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["ReceiptHandle"] != first["ReceiptHandle"]
    # The first receipt is no longer current: deleting with it is refused, with the new one it works.
    with pytest.raises(QueueError) as stale:
        sqs.call("DeleteMessage", {"QueueUrl": queue.url(BASE), "ReceiptHandle": first["ReceiptHandle"]})
    assert stale.value.code == "ReceiptHandleIsInvalid"
    sqs.call("DeleteMessage", {"QueueUrl": queue.url(BASE), "ReceiptHandle": again["ReceiptHandle"]})
    clock.now += 60
    assert receive(sqs, queue) == []


def test_change_message_visibility_is_the_next_attempts_delay(clock: Clock) -> None:
    """What webhookDelivery's backoff does: a failed message hidden for its own, longer time."""
    sqs, queue, _ = queues(visibility=30, max_receives=None)
    sqs.call("SendMessage", {"QueueUrl": queue.url(BASE), "MessageBody": "retry me"})
    for delay in (30, 90, 270):
        [message] = receive(sqs, queue)
        sqs.call(
            "ChangeMessageVisibility",
            {"QueueUrl": queue.url(BASE), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": delay},
        )
        clock.now += delay - 1
        assert receive(sqs, queue) == [], delay
        clock.now += 1
    [message] = receive(sqs, queue)
    assert message["Attributes"]["ApproximateReceiveCount"] == "4"
    with pytest.raises(QueueError) as too_long:
        sqs.call(
            "ChangeMessageVisibility",
            {"QueueUrl": queue.url(BASE), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 43201},
        )
    assert too_long.value.code == "InvalidParameterValue"


def test_a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue(clock: Clock) -> None:
    sqs, queue, dlq = queues(visibility=10, max_receives=3)
    sqs.call("SendMessage", {"QueueUrl": queue.url(BASE), "MessageBody": json.dumps({"n": 1})})
    sqs.call("SendMessage", {"QueueUrl": queue.url(BASE), "MessageBody": json.dumps({"n": 2})})
    for attempt in (1, 2, 3):
        got = receive(sqs, queue)
        assert [m["Attributes"]["ApproximateReceiveCount"] for m in got] == [str(attempt)] * 2
        # The second message succeeds at its third attempt; the first never does.
        if attempt == 3:
            done = next(m for m in got if json.loads(m["Body"])["n"] == 2)
            sqs.call("DeleteMessage", {"QueueUrl": queue.url(BASE), "ReceiptHandle": done["ReceiptHandle"]})
        clock.now += 10
    assert receive(sqs, queue) == []  # the 4th receive: over maxReceiveCount, redriven instead
    [dead] = receive(sqs, dlq)
    assert json.loads(dead["Body"]) == {"n": 1}
    assert queue.messages == {}
    attributes = sqs.call("GetQueueAttributes", {"QueueUrl": dlq.url(BASE)})["Attributes"]
    assert attributes["QueueArn"].endswith(":hooks-dlq") and attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_messages_older_than_the_retention_period_are_dropped(clock: Clock) -> None:
    sqs, queue, dlq = queues(retention=60)
    sqs.call("SendMessage", {"QueueUrl": queue.url(BASE), "MessageBody": "old"})
    clock.now += 61
    assert receive(sqs, queue) == [] and receive(sqs, dlq) == [] and queue.messages == {}


def test_batches_take_one_to_ten_entries_and_unknown_queues_are_named(clock: Clock) -> None:
    sqs, queue, _ = queues()
    entries = [{"Id": str(i), "MessageBody": str(i)} for i in range(11)]
    with pytest.raises(QueueError) as too_many:
        sqs.call("SendMessageBatch", {"QueueUrl": queue.url(BASE), "Entries": entries})
    assert too_many.value.code == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    sent = sqs.call("SendMessageBatch", {"QueueUrl": queue.url(BASE), "Entries": entries[:10]})
    assert len(sent["Successful"]) == 10 and sent["Failed"] == []
    assert sorted(m["Body"] for m in receive(sqs, queue, 10)) == sorted(str(i) for i in range(10))
    with pytest.raises(QueueError) as missing:
        sqs.call("SendMessage", {"QueueUrl": f"{BASE}/_local/sqs/1/nope", "MessageBody": "x"})
    assert missing.value.code == "AWS.SimpleQueueService.NonExistentQueue"


def test_the_event_source_mapping_deletes_what_succeeded_and_retries_reported_failures() -> None:
    """Lambda's SQS event source with ReportBatchItemFailures: the batch's other messages are deleted, a
    reported one comes back after the visibility its function set; a raising invocation keeps the batch."""
    sqs, queue, _ = queues(visibility=30, max_receives=None)
    calls: list[list[tuple[str, int]]] = []
    done = threading.Event()

    def invoke(fn: Any, event: dict[str, Any]) -> dict[str, Any]:
        records = [(r["body"], int(r["attributes"]["ApproximateReceiveCount"])) for r in event["Records"]]
        calls.append(records)
        if len(calls) == 1:
            raise RuntimeError("the worker died")  # the whole batch stays (its 30 s visibility: made 0 here)
        failures = []
        for record in event["Records"]:
            if record["body"] == "flaky" and int(record["attributes"]["ApproximateReceiveCount"]) < 3:
                sqs.call(
                    "ChangeMessageVisibility",
                    {"QueueUrl": queue.url(BASE), "ReceiptHandle": record["receiptHandle"], "VisibilityTimeout": 0},
                )
                failures.append({"itemIdentifier": record["messageId"]})
        if not failures and not queue.messages.keys() - {r["messageId"] for r in event["Records"]}:
            done.set()
        return {"batchItemFailures": failures}

    for body in ("ok", "flaky"):
        sqs.send(queue, body)
    fn = SimpleNamespace(service=SimpleNamespace(key="project"), key="webhookDelivery")
    sqs.start_mapping(queue, fn, 10, invoke)  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + 3
        while len(calls) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        with sqs._lock:  # after the raising invocation: make the batch visible again at once
            for message in queue.messages.values():
                message.visible_at = 0
            sqs._lock.notify_all()
        assert done.wait(5), calls
    finally:
        sqs.stop()
    assert sorted(calls[0]) == [("flaky", 1), ("ok", 1)]
    assert sorted(calls[1]) == [("flaky", 2), ("ok", 2)]
    assert calls[2:] == [[("flaky", 3)]]  # ok was deleted with the second batch; flaky retried alone
    assert queue.messages == {}
