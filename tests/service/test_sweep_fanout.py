"""The sweep's fan-out in-process against moto: the schedule's run starts one run per group of shards,
a group's run that stops with due entries left starts the group's next one until its period is over,
and the last run of a group reports (and publishes) what it leaves due. Lambda's asynchronous
invocations are played by a queue that this test drains through the handler, as Lambda would."""

from __future__ import annotations

import re
import time
from collections import deque
from typing import Any

import pytest

from imagestore import keys
from imagestore.auth import Principal
from imagestore.config import get_settings
from imagestore.data import factory
from imagestore.errors import Throttled
from imagestore.models.files import FileRecord
from tests.conftest import Aws
from tests.service.test_scheduler import published_metrics
from tests.support.events import LambdaContext, api_event, call
from tests.support.files import stored_file, stored_files

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s2")
HOUR = 3600
ARN = LambdaContext.invoked_function_arn


class LambdaQueue:
    """Asynchronous invocations of the sweep: what was invoked, run one after another by drain()."""

    def __init__(self) -> None:
        self.invoked: list[tuple[str, dict[str, Any]]] = []
        self.pending: deque[dict[str, Any]] = deque()
        self.refuse = False

    def invoke_async(self, function: str, event: dict[str, Any]) -> None:
        if self.refuse:
            raise Throttled("Lambda refused the invocation for now; retry")
        self.invoked.append((function, event))
        self.pending.append(event)

    def drain(self, limit: int = 500) -> list[dict[str, Any]]:
        """Run every queued invocation (and those they queue); their results, in order."""
        results = []
        while self.pending:
            assert len(results) < limit, "the runs never stop"
            results.append(run(self.pending.popleft()))
        return results


@pytest.fixture
def lambdas(monkeypatch: pytest.MonkeyPatch) -> LambdaQueue:
    queue = LambdaQueue()
    monkeypatch.setattr("scheduler_service.handlers.sweep.function_invoker", lambda: queue)
    return queue


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    class Clock:
        offset = 0

        def advance(self, seconds: int) -> int:
            self.offset += seconds
            monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(self.offset))
            return int(time.time()) + self.offset

    return Clock()


def run(event: dict[str, Any]) -> dict[str, Any]:
    from scheduler_service.handlers.sweep import handler

    return handler(event, LambdaContext())


def schedule_event() -> dict[str, Any]:
    """The input the sweep's schedule sends (services/scheduler/serverless.yml, default params resolved)."""
    from tests.support.cfn import service_definition

    definition = service_definition("scheduler")
    params = definition["params"]["default"]
    (event,) = definition["functions"]["sweep"]["events"]
    detail = {
        name: (
            params[m.group(1)] if isinstance(value, str) and (m := re.fullmatch(r"\$\{param:(\w+)\}", value)) else value
        )
        for name, value in event["schedule"]["input"]["detail"].items()
    }
    return {"detail": detail}


def shard_of(record: FileRecord) -> int:
    xpk = keys.expiry_shard(record.key["pk"], record.key["sk"], get_settings().expiry_shards)
    return int(xpk.removeprefix("EXP#"))


def gone(aws: Aws, record: FileRecord) -> bool:
    return aws.item(**record.key) is None and not aws.object_exists(record.object_key)


def test_the_schedule_starts_one_run_per_group_and_together_they_remove_every_expired_file(
    aws: Aws, clock: Any, lambdas: LambdaQueue, projects: Any
) -> None:
    expired = [stored_file(ALICE) for _ in range(6)] + [stored_file(BOB) for _ in range(6)]
    saved = stored_file(ALICE)
    status, _ = call(
        projects,
        api_event(
            "POST",
            "/projects",
            principal=ALICE,
            body={
                "name": "Summer",
                "productType": "photobook",
                "document": {"pages": [saved.file_id]},
                "fileIds": [saved.file_id],
            },
        ),
    )
    assert status == 201
    now = clock.advance(7 * HOUR)
    event = schedule_event()

    started = run(event)

    groups = event["detail"]["groups"]
    assert started == {"runs_started": groups, "groups": groups}
    assert all(function == ARN for function, _ in lambdas.invoked), "it invokes only itself"
    details = [e["detail"] for _, e in lambdas.invoked]
    assert sorted(d["group"] for d in details) == list(range(groups))
    # Every run ends with the same period: the fan-out's clock (read a moment after `now`) plus one period.
    ((runs_groups, until),) = {(d["groups"], d["until"]) for d in details}
    assert runs_groups == groups
    assert now + event["detail"]["periodSeconds"] <= until <= now + event["detail"]["periodSeconds"] + 5
    assert all(aws.item(**r.key) is not None for r in expired), "the fan-out run itself removes nothing"

    reports = lambdas.drain()

    assert len(reports) == groups, "nothing was left, so no group started a next run"
    assert sum(r["files_removed"] for r in reports) == len(expired)
    assert all(gone(aws, r) for r in expired)
    assert aws.item(**saved.key) is not None and aws.object_exists(saved.object_key), "a held file stays"
    assert all(r["backlog"] == 0 and not r["continued"] for r in reports)


def test_each_groups_run_removes_only_the_files_of_its_own_shards(aws: Aws, clock: Any, lambdas: LambdaQueue) -> None:
    records = stored_files(ALICE, 40)
    clock.advance(7 * HOUR)
    run(schedule_event())
    first = lambdas.pending.popleft()
    group, groups = first["detail"]["group"], first["detail"]["groups"]

    report = run(first)

    mine = [r for r in records if shard_of(r) % groups == group]
    assert report["files_removed"] == len(mine)
    assert all((aws.item(**r.key) is None) == (r in mine) for r in records)
    lambdas.drain()
    assert all(aws.item(**r.key) is None for r in records)


def test_a_group_with_work_left_starts_its_next_run_until_nothing_is_due(
    aws: Aws, clock: Any, lambdas: LambdaQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    records = stored_files(ALICE, 30)
    now = clock.advance(7 * HOUR)
    capsys.readouterr()
    run({"detail": {"group": 0, "groups": 1, "until": now + 900, "maxEntries": 8}})

    assert [e["detail"]["hop"] for _, e in lambdas.invoked] == [1]
    assert published_metrics(capsys.readouterr().out) == {"FilesSwept": 8, "SweepRunsIncomplete": 0}, (
        "a run that started the next one is not behind, and does not report the backlog: the group's last run does"
    )
    reports = lambdas.drain()

    assert [r["hop"] for r in reports] == [1, 2, 3]
    assert [r["continued"] for r in reports] == [True, True, False]
    assert reports[-1]["complete"] and reports[-1]["backlog"] == 0
    assert all(aws.item(**r.key) is None for r in records)
    assert published_metrics(capsys.readouterr().out) == {
        "FilesSwept": 6,
        "SweepRunsIncomplete": 0,
        "SweepBacklog": 0,
        "SweepBacklogAgeSeconds": 0,
    }


def test_after_its_period_a_group_stops_and_reports_what_it_left(
    aws: Aws, clock: Any, lambdas: LambdaQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    records = stored_files(ALICE, 30)
    now = clock.advance(7 * HOUR)
    capsys.readouterr()

    report = run({"detail": {"group": 0, "groups": 1, "until": now - 1, "maxEntries": 8}})

    assert not lambdas.invoked, "the next period's fan-out takes the group over"
    assert not report["continued"] and report["files_removed"] == 8
    assert report["backlog"] == 22 and report["backlog_counted_all"]
    # stored_files filed them due 6 hours after they were written; the clock is 7 hours on.
    assert HOUR - 60 <= report["backlog_age_seconds"] <= HOUR + 60
    metrics = published_metrics(capsys.readouterr().out)
    assert metrics["SweepRunsIncomplete"] == 1, "the group's period ended with work left"
    assert metrics["SweepBacklog"] == 22 and HOUR - 60 <= metrics["SweepBacklogAgeSeconds"] <= HOUR + 60
    assert sum(aws.item(**r.key) is not None for r in records) == 22, "left due, not lost"


def test_a_run_by_hand_never_starts_another(aws: Aws, clock: Any, lambdas: LambdaQueue) -> None:
    stored_files(ALICE, 10)
    clock.advance(7 * HOUR)

    report = run({"detail": {"maxEntries": 4}})

    assert not lambdas.invoked
    assert report["backlog"] == 6 and not report["complete"]


def test_when_lambda_refuses_the_next_run_what_is_left_stays_due_for_the_next_period(
    aws: Aws, clock: Any, lambdas: LambdaQueue
) -> None:
    records = stored_files(ALICE, 12)
    now = clock.advance(7 * HOUR)
    lambdas.refuse = True

    report = run({"detail": {"group": 0, "groups": 1, "until": now + 900, "maxEntries": 5}})

    assert not report["continued"] and report["backlog"] == 7
    lambdas.refuse = False
    clock.advance(900)
    run(schedule_event())
    lambdas.drain()
    assert all(aws.item(**r.key) is None for r in records)


def test_a_run_that_dies_after_marking_leaves_files_that_the_next_period_removes(
    aws: Aws, clock: Any, lambdas: LambdaQueue
) -> None:
    records = [stored_file(ALICE) for _ in range(5)]
    clock.advance(7 * HOUR)
    bucket = factory.image_bucket()
    real = bucket.client.delete_objects

    def dying(**_: Any) -> Any:
        raise ConnectionError("the run's environment went away")

    bucket.client.delete_objects = dying
    try:
        with pytest.raises(ConnectionError):
            run({"detail": {"group": 0, "groups": 1}})
    finally:
        bucket.client.delete_objects = real
    assert all(aws.item(**r.key)["status"] == "deleting" for r in records), "marked, not yet removed"
    assert all(aws.object_exists(r.object_key) for r in records)

    clock.advance(900)
    run(schedule_event())
    reports = lambdas.drain()

    assert sum(r["files_removed"] for r in reports) == 5
    assert all(gone(aws, r) for r in records)
