"""Non-HTTP triggers: rate schedules and EventBridge rules (pattern matching, delivery)."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imagestore_local.clock import now_epoch
from imagestore_local.config_loader import ACCOUNT_ID, FunctionDef
from imagestore_local.lambda_runtime import LambdaRuntime

log = logging.getLogger("imagestore_local.scheduler")

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(expression: str) -> float:
    """Seconds between runs of 'rate(5 minutes)'; ValueError for anything else (cron included)."""
    match = re.fullmatch(r"\s*rate\(\s*(\d+(?:\.\d+)?)\s+(second|minute|hour|day)s?\s*\)\s*", expression)
    if not match:
        raise ValueError(f"unsupported schedule expression {expression!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def schedule_scale() -> float:
    """IMAGESTORE_LOCAL_SCHEDULE_SCALE: the periods are divided by it (default 1)."""
    try:
        scale = float(os.environ.get("IMAGESTORE_LOCAL_SCHEDULE_SCALE", "1") or 1)
    except ValueError:
        log.warning("IMAGESTORE_LOCAL_SCHEDULE_SCALE is not a number; using 1")
        return 1.0
    return scale if scale > 0 else 1.0


def now_iso() -> str:
    """The current time as EventBridge writes it (clock offset included)."""
    return datetime.fromtimestamp(now_epoch(), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_event(fn: FunctionDef, rule_name: str) -> dict[str, Any]:
    """The payload EventBridge sends a scheduled target."""
    region = fn.service.region
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": now_iso(),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


@dataclass
class Schedule:
    """One schedule event of one function."""

    fn: FunctionDef
    period: float
    expression: str
    rule_name: str
    input: Any = None


def schedules_of(fn: FunctionDef) -> list[Schedule]:
    """Every enabled rate schedule of a function (cron is logged and skipped)."""
    out: list[Schedule] = []
    for index, event in enumerate(fn.events):
        if not isinstance(event, dict) or "schedule" not in event:
            continue
        spec = event["schedule"]
        if isinstance(spec, str):
            spec = {"rate": spec}
        if spec.get("enabled") is False:
            log.info("%s/%s: schedule %d disabled", fn.service.key, fn.key, index)
            continue
        rates = spec.get("rate")
        for expression in rates if isinstance(rates, list) else [rates]:
            try:
                period = parse_rate(str(expression))
            except ValueError:
                log.warning(
                    "%s/%s: schedule %r not run locally (only rate(...) is)",
                    fn.service.key,
                    fn.key,
                    expression,
                )
                continue
            name = spec.get("name") or f"{fn.name}-schedule-{index + 1}"
            payload = spec.get("input")
            if isinstance(payload, str):
                payload = json.loads(payload)
            out.append(Schedule(fn=fn, period=period, expression=str(expression), rule_name=name, input=payload))
    return out


class ScheduleRunner:
    """One daemon thread per schedule, invoking its function asynchronously every period / scale seconds
    (as EventBridge does: a run that fails is retried by Lambda's asynchronous invocation)."""

    def __init__(self, schedules: list[Schedule], runtime: LambdaRuntime) -> None:
        self.schedules = schedules
        self.runtime = runtime
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the schedule threads."""
        scale = schedule_scale()
        for schedule in self.schedules:
            period = schedule.period / scale
            log.info(
                "schedule: %s/%s %s -> every %.1f s%s",
                schedule.fn.service.key,
                schedule.fn.key,
                schedule.expression,
                period,
                "" if schedule.input is None else f", input {json.dumps(schedule.input)}",
            )
            thread = threading.Thread(
                target=self._run, args=(schedule, period), name=f"schedule-{schedule.fn.key}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _run(self, schedule: Schedule, period: float) -> None:
        while not self._stop.wait(period):
            event = schedule.input if schedule.input is not None else scheduled_event(schedule.fn, schedule.rule_name)
            self.runtime.invoke_async(schedule.fn, event, source=f"schedule {schedule.expression}")

    def stop(self) -> None:
        """Stop the threads (a run in progress finishes in the background)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)


# --------------------------------------------------------------------------- EventBridge


def _matches_value(matcher: Any, value: Any, present: bool) -> bool:
    """One element of a pattern's list against one event value."""
    if not isinstance(matcher, dict):
        return present and value == matcher
    if "exists" in matcher:
        return bool(matcher["exists"]) == present
    if not present:
        return False
    if "prefix" in matcher:
        prefix = matcher["prefix"]
        if isinstance(prefix, dict):  # {"prefix": {"equals-ignore-case": "x"}}
            prefix = str(prefix.get("equals-ignore-case", ""))
            return isinstance(value, str) and value.lower().startswith(prefix.lower())
        return isinstance(value, str) and value.startswith(str(prefix))
    if "suffix" in matcher:
        return isinstance(value, str) and value.endswith(str(matcher["suffix"]))
    if "equals-ignore-case" in matcher:
        return isinstance(value, str) and value.lower() == str(matcher["equals-ignore-case"]).lower()
    if "wildcard" in matcher:
        regex = "".join(".*" if char == "*" else re.escape(char) for char in str(matcher["wildcard"]))
        return isinstance(value, str) and re.fullmatch(regex, value, re.DOTALL) is not None
    if "anything-but" in matcher:
        excluded = matcher["anything-but"]
        if isinstance(excluded, dict):
            return not _matches_value(excluded, value, present)
        excluded = excluded if isinstance(excluded, list) else [excluded]
        return value not in excluded
    if "numeric" in matcher:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        ops = matcher["numeric"]
        checks = {
            "<": float.__lt__,
            "<=": float.__le__,
            ">": float.__gt__,
            ">=": float.__ge__,
            "=": float.__eq__,
        }
        return all(checks[ops[i]](float(value), float(ops[i + 1])) for i in range(0, len(ops), 2))
    log.warning("unsupported EventBridge matcher %s", matcher)
    return False


def pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge pattern semantics: every key must match; lists are alternatives; dicts nest."""
    for key, expected in pattern.items():
        if key == "$or":
            if not any(pattern_matches(option, event) for option in expected):
                return False
            continue
        present = isinstance(event, dict) and key in event
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(expected, dict):
            if not present or not isinstance(value, dict) or not pattern_matches(expected, value):
                return False
            continue
        matchers = expected if isinstance(expected, list) else [expected]
        values = value if isinstance(value, list) and value else [value]
        if not any(_matches_value(matcher, item, present) for matcher in matchers for item in values):
            return False
    return True


def bus_name(value: Any) -> str:
    """'default', a name, or an event bus ARN -> the name."""
    text = str(value or "default")
    return text.rsplit("/", 1)[-1] if text.startswith("arn:") else text


@dataclass
class Rule:
    """An eventBridge event of one function."""

    fn: FunctionDef
    pattern: dict[str, Any]
    bus: str
    input: Any = None


def rules_of(fn: FunctionDef) -> list[Rule]:
    """Every eventBridge rule of a function."""
    out: list[Rule] = []
    for event in fn.events:
        if not isinstance(event, dict) or "eventBridge" not in event:
            continue
        spec = event["eventBridge"] or {}
        if spec.get("enabled") is False:
            continue
        if spec.get("schedule"):
            log.warning("%s/%s: eventBridge schedule not run locally; use `schedule:`", fn.service.key, fn.key)
            continue
        if "inputTransformer" in spec or "inputPath" in spec:
            log.warning("%s/%s: eventBridge inputTransformer/inputPath ignored locally", fn.service.key, fn.key)
        bus = spec.get("eventBus")
        if isinstance(bus, dict):
            from imagestore_local.cloudformation import Intrinsics

            try:
                bus = Intrinsics(fn.service).evaluate(bus)
            except (KeyError, ValueError):
                log.warning("%s/%s: eventBus %s not resolvable; using default", fn.service.key, fn.key, bus)
                bus = None
        out.append(Rule(fn=fn, pattern=dict(spec.get("pattern") or {}), bus=bus_name(bus), input=spec.get("input")))
    return out


@dataclass
class QueueRule:
    """An AWS::Events::Rule resource whose target is an SQS queue: the event is sent to the queue."""

    name: str
    pattern: dict[str, Any]
    bus: str
    queue: str
    send: Callable[[str], Any]


class EventBus:
    """Local EventBridge: PutEvents entries are matched against every rule and delivered asynchronously
    (functions' eventBridge rules: an asynchronous invocation; rules targeting a queue: SendMessage)."""

    def __init__(
        self, rules: list[Rule], runtime: LambdaRuntime, region: str, queue_rules: list[QueueRule] | None = None
    ) -> None:
        self.rules = rules
        self.queue_rules = queue_rules or []
        self.runtime = runtime
        self.region = region

    def to_event(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A PutEvents entry as the event a target receives."""
        detail = entry.get("Detail") or "{}"
        parsed = json.loads(detail) if isinstance(detail, str) else detail
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry.get("DetailType"),
            "source": entry.get("Source"),
            "account": ACCOUNT_ID,
            "time": entry.get("Time") or now_iso(),
            "region": self.region,
            "resources": list(entry.get("Resources") or []),
            "detail": parsed,
        }

    def put_events(self, entries: list[dict[str, Any]], wait: bool = False) -> dict[str, Any]:
        """PutEvents: returns the API's answer, plus a _local section naming the targets."""
        answers: list[dict[str, Any]] = []
        matched: list[dict[str, Any]] = []
        failed = 0
        futures: list[tuple[Rule, Future[Any]]] = []
        queued: list[dict[str, Any]] = []
        for entry in entries:
            if not entry.get("Source") or not entry.get("DetailType"):
                answers.append({"ErrorCode": "InvalidArgument", "ErrorMessage": "Source and DetailType are required"})
                failed += 1
                continue
            try:
                event = self.to_event(entry)
            except json.JSONDecodeError:
                answers.append({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is not valid JSON"})
                failed += 1
                continue
            answers.append({"EventId": event["id"]})
            bus = bus_name(entry.get("EventBusName"))
            for rule in self.rules:
                if not pattern_matches(rule.pattern, event):
                    continue
                if rule.bus != bus:
                    log.warning(
                        "event %s/%s matches %s/%s but is on bus %s, not %s; not delivered",
                        event["source"],
                        event["detail-type"],
                        rule.fn.service.key,
                        rule.fn.key,
                        bus,
                        rule.bus,
                    )
                    continue
                payload = rule.input if rule.input is not None else event
                source = f"eventbridge {event['source']}/{event['detail-type']}"
                futures.append((rule, self.runtime.invoke_async(rule.fn, payload, source=source)))
                matched.append({"eventId": event["id"], "service": rule.fn.service.key, "function": rule.fn.key})
            for queue_rule in self.queue_rules:
                if queue_rule.bus == bus and pattern_matches(queue_rule.pattern, event):
                    queue_rule.send(json.dumps(event))
                    log.info(
                        "eventbridge: %s/%s -> queue %s (rule %s)",
                        event["source"],
                        event["detail-type"],
                        queue_rule.queue,
                        queue_rule.name,
                    )
                    queued.append({"eventId": event["id"], "queue": queue_rule.queue})
        if wait:
            for (_rule, future), record in zip(futures, matched, strict=True):
                try:
                    record["result"] = future.result()
                except Exception as exc:  # reported to the caller of the local API, and logged by the runtime
                    record["error"] = f"{type(exc).__name__}: {exc}"
        return {"FailedEntryCount": failed, "Entries": answers, "_local": {"targets": matched + queued}}
