"""SQS locally: the queues of the services' templates (AWS::SQS::Queue: VisibilityTimeout,
MessageRetentionPeriod, RedrivePolicy), their API (boto3's sqs client via AWS_ENDPOINT_URL_SQS, the JSON
protocol), and the functions' `sqs` events as Lambda's event source mapping runs them: a batch of visible
messages, each received (its receive count + 1, hidden for the queue's visibility timeout), the function
invoked, the messages it did not report in batchItemFailures deleted; a message received more than its
redrive policy's maxReceiveCount moves to the dead-letter queue. What a function sets with
ChangeMessageVisibility is when its message is received again: the same retry semantics as in AWS."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imagestore_local.config_loader import FunctionDef

log = logging.getLogger("imagestore_local.sqs")
ACCOUNT_ID = "123456789012"


@dataclass
class Message:
    message_id: str
    body: str
    sent_at: float
    visible_at: float
    receive_count: int = 0
    first_received_at: float | None = None
    receipt: str = ""


@dataclass
class Queue:
    name: str
    region: str
    visibility_timeout: int = 30
    retention_seconds: int = 345600
    dead_letter: Queue | None = None
    max_receive_count: int | None = None
    messages: dict[str, Message] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{self.name}"

    def url(self, base_url: str) -> str:
        return f"{base_url}/_local/sqs/{ACCOUNT_ID}/{self.name}"


def sqs_record(queue: Queue, message: Message) -> dict[str, Any]:
    """One record of the event Lambda's SQS event source sends."""
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt,
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(int(message.sent_at * 1000)),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(int((message.first_received_at or message.sent_at) * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(message.body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": queue.region,
    }


def sqs_event(queue_arn: str, region: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event of a batch, from ReceiveMessage answers (MessageId, ReceiptHandle, Body, Attributes)."""
    name = queue_arn.rsplit(":", 1)[-1]
    queue = Queue(name=name, region=region)
    records = []
    for raw in messages:
        attributes = raw.get("Attributes") or {}
        message = Message(
            raw["MessageId"],
            raw["Body"],
            int(attributes.get("SentTimestamp", "0")) / 1000,
            0,
            int(attributes.get("ApproximateReceiveCount", "1")),
            receipt=raw["ReceiptHandle"],
        )
        records.append(sqs_record(queue, message))
    return {"Records": records}


class QueueError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class LocalSqs:
    """Every queue of the stack, their API and their event source mappings."""

    def __init__(self, queues: list[Queue], base_url: str) -> None:
        self.queues = {q.name: q for q in queues}
        self.base_url = base_url
        self._lock = threading.Condition()
        self._pollers: list[threading.Thread] = []
        self._stopping = threading.Event()

    # --- the API ------------------------------------------------------------------------------------

    def queue(self, url_or_name: str) -> Queue:
        name = url_or_name.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        queue = self.queues.get(name)
        if queue is None:
            raise QueueError("AWS.SimpleQueueService.NonExistentQueue", f"no queue {name}")
        return queue

    def send(self, queue: Queue, body: str, delay: int = 0) -> str:
        now = time.time()
        message = Message(str(uuid.uuid4()), body, now, now + delay)
        with self._lock:
            queue.messages[message.message_id] = message
            self._lock.notify_all()
        return message.message_id

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """One API call (the JSON protocol's X-Amz-Target AmazonSQS.<operation>)."""
        if operation == "GetQueueUrl":
            return {"QueueUrl": self.queue(params["QueueName"]).url(self.base_url)}
        queue = self.queue(params.get("QueueUrl", ""))
        if operation == "SendMessage":
            body = params["MessageBody"]
            message_id = self.send(queue, body, int(params.get("DelaySeconds", 0)))
            return {"MessageId": message_id, "MD5OfMessageBody": hashlib.md5(body.encode()).hexdigest()}
        if operation == "SendMessageBatch":
            entries = params.get("Entries") or []
            if not 1 <= len(entries) <= 10:
                raise QueueError("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "1 to 10 entries")
            return {
                "Successful": [
                    {
                        "Id": e["Id"],
                        "MessageId": self.send(queue, e["MessageBody"], int(e.get("DelaySeconds", 0))),
                        "MD5OfMessageBody": hashlib.md5(e["MessageBody"].encode()).hexdigest(),
                    }
                    for e in entries
                ],
                "Failed": [],
            }
        if operation == "ChangeMessageVisibility":
            timeout = int(params["VisibilityTimeout"])
            if not 0 <= timeout <= 43200:
                raise QueueError("InvalidParameterValue", "VisibilityTimeout must be 0 to 43200")
            with self._lock:
                message = self._by_receipt(queue, params["ReceiptHandle"])
                message.visible_at = time.time() + timeout
                self._lock.notify_all()
            return {}
        if operation == "DeleteMessage":
            with self._lock:
                message = self._by_receipt(queue, params["ReceiptHandle"])
                queue.messages.pop(message.message_id, None)
            return {}
        if operation == "ReceiveMessage":
            batch = self.receive(queue, int(params.get("MaxNumberOfMessages", 1)))
            return {
                "Messages": [
                    {
                        "MessageId": m.message_id,
                        "ReceiptHandle": m.receipt,
                        "Body": m.body,
                        "Attributes": sqs_record(queue, m)["attributes"],
                    }
                    for m in batch
                ]
            }
        if operation == "GetQueueAttributes":
            now = time.time()
            with self._lock:
                visible = sum(1 for m in queue.messages.values() if m.visible_at <= now)
                return {
                    "Attributes": {
                        "QueueArn": queue.arn,
                        "ApproximateNumberOfMessages": str(visible),
                        "ApproximateNumberOfMessagesNotVisible": str(len(queue.messages) - visible),
                        "VisibilityTimeout": str(queue.visibility_timeout),
                    }
                }
        if operation == "PurgeQueue":
            with self._lock:
                queue.messages.clear()
            return {}
        raise QueueError("InvalidAction", f"{operation} is not emulated locally")

    @staticmethod
    def _by_receipt(queue: Queue, receipt: str) -> Message:
        for message in queue.messages.values():
            if message.receipt == receipt:
                return message
        raise QueueError("ReceiptHandleIsInvalid", "the receipt handle is not current")

    def receive(self, queue: Queue, limit: int) -> list[Message]:
        """Up to limit visible messages, received now; those over their redrive's maxReceiveCount move to
        the dead-letter queue instead; expired ones are dropped (MessageRetentionPeriod)."""
        now = time.time()
        batch: list[Message] = []
        with self._lock:
            for message in sorted(queue.messages.values(), key=lambda m: m.visible_at):
                if len(batch) >= limit or message.visible_at > now:
                    break
                if now - message.sent_at > queue.retention_seconds:
                    queue.messages.pop(message.message_id)
                    continue
                if (
                    queue.dead_letter is not None
                    and queue.max_receive_count is not None
                    and message.receive_count >= queue.max_receive_count
                ):
                    queue.messages.pop(message.message_id)
                    message.visible_at, message.receipt = now, ""
                    queue.dead_letter.messages[message.message_id] = message
                    log.warning(
                        "sqs: message %s moved to %s after %d receives",
                        message.message_id,
                        queue.dead_letter.name,
                        message.receive_count,
                    )
                    continue
                message.receive_count += 1
                message.first_received_at = message.first_received_at or now
                message.receipt = uuid.uuid4().hex
                message.visible_at = now + queue.visibility_timeout
                batch.append(message)
        return batch

    # --- event source mappings -------------------------------------------------------------------------

    def start_mapping(
        self, queue: Queue, fn: FunctionDef, batch_size: int, invoke: Callable[[FunctionDef, Any], Any]
    ) -> None:
        """Poll the queue for fn as Lambda does; one batch at a time per mapping."""
        thread = threading.Thread(
            target=self._poll, args=(queue, fn, batch_size, invoke), name=f"sqs-{queue.name}", daemon=True
        )
        self._pollers.append(thread)
        thread.start()

    def _next_visible_in(self, queue: Queue) -> float:
        now = time.time()
        with self._lock:
            times = [m.visible_at for m in queue.messages.values()]
        return max(0.0, min(times) - now) if times else 1.0

    def _poll(self, queue: Queue, fn: FunctionDef, batch_size: int, invoke: Callable[[FunctionDef, Any], Any]) -> None:
        while not self._stopping.is_set():
            batch = self.receive(queue, batch_size)
            if not batch:
                with self._lock:
                    self._lock.wait(timeout=min(1.0, self._next_visible_in(queue)))
                continue
            event = {"Records": [sqs_record(queue, m) for m in batch]}
            try:
                result = invoke(fn, event)
            except Exception:  # the whole batch comes back after its visibility timeout, as in AWS
                log.exception(
                    "sqs: %s/%s failed; %d message(s) retried after their visibility timeout",
                    fn.service.key,
                    fn.key,
                    len(batch),
                )
                continue
            failed = (
                {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
                if isinstance(result, dict)
                else set()
            )
            with self._lock:
                for message in batch:
                    if message.message_id not in failed:
                        queue.messages.pop(message.message_id, None)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        for thread in self._pollers:
            thread.join(timeout=15)


def queues_of(resources: dict[str, Any], physical_name: Callable[[str], str], region: str) -> dict[str, Queue]:
    """logical id -> Queue for every AWS::SQS::Queue of a template (RedrivePolicy by !GetAtt X.Arn)."""
    queues: dict[str, Queue] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::SQS::Queue":
            continue
        props = resource.get("Properties") or {}
        queues[logical_id] = Queue(
            name=physical_name(logical_id),
            region=region,
            visibility_timeout=int(props.get("VisibilityTimeout", 30)),
            retention_seconds=int(props.get("MessageRetentionPeriod", 345600)),
        )
    for logical_id, resource in resources.items():
        redrive = ((resource.get("Properties") or {}).get("RedrivePolicy") or {}) if logical_id in queues else {}
        target = redrive.get("deadLetterTargetArn")
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            dead = queues.get(
                target["Fn::GetAtt"][0]
                if isinstance(target["Fn::GetAtt"], list)
                else str(target["Fn::GetAtt"]).split(".")[0]
            )
            if dead is not None:
                queues[logical_id].dead_letter = dead
                queues[logical_id].max_receive_count = int(redrive.get("maxReceiveCount", 10))
    return queues


def _get_att_target(value: Any) -> str | None:
    """The logical id of `!GetAtt X.Arn` (either form), else None."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0]) if isinstance(target, list) else str(target).split(".")[0]
    return None


def build_local_sqs(services: list[Any], base_url: str, region: str) -> tuple[LocalSqs, dict[tuple[str, str], Queue]]:
    """Every queue of every service, and (service key, logical id) -> queue."""
    from imagestore_local.cloudformation import Intrinsics

    by_logical: dict[tuple[str, str], Queue] = {}
    for service in services:
        intrinsics = Intrinsics(service)
        queues = queues_of(service.resources, lambda lid, i=intrinsics: i.physical_name(lid).rsplit("/", 1)[-1], region)
        by_logical.update({(service.key, lid): q for lid, q in queues.items()})
    return LocalSqs(list(by_logical.values()), base_url), by_logical


def sqs_sources(fn: FunctionDef) -> list[tuple[str, int]]:
    """(queue logical id, batch size) of each enabled `sqs` event of fn."""
    sources = []
    for event in fn.events:
        spec = event.get("sqs") if isinstance(event, dict) else None
        if spec is None:
            continue
        spec = spec if isinstance(spec, dict) else {"arn": spec}
        if spec.get("enabled") is False:
            continue
        logical = _get_att_target(spec.get("arn"))
        if logical is None:
            log.warning("%s/%s: sqs event %s not resolvable locally", fn.service.key, fn.key, spec.get("arn"))
            continue
        sources.append((logical, int(spec.get("batchSize", 10))))
    return sources


def queue_rule_specs(service: Any) -> list[tuple[str, dict[str, Any], Any, str]]:
    """(rule logical id, event pattern, bus, target queue logical id) of each AWS::Events::Rule of the
    service with an SQS queue of the same service as target."""
    specs = []
    for logical_id, resource in service.resources.items():
        if resource.get("Type") != "AWS::Events::Rule":
            continue
        props = resource.get("Properties") or {}
        if props.get("State", "ENABLED") != "ENABLED" or not props.get("EventPattern"):
            continue
        for target in props.get("Targets") or []:
            queue = _get_att_target(target.get("Arn"))
            if queue and (service.resources.get(queue) or {}).get("Type") == "AWS::SQS::Queue":
                specs.append((logical_id, dict(props["EventPattern"]), props.get("EventBusName"), queue))
    return specs
