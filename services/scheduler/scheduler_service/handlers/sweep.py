"""Schedule -> one bounded run of the expiry sweep over the event's group of shards (every shard when
the event names none)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import clock
from imagestore.observability import lambda_handler, logger, metrics
from scheduler_service.logic.context import sweep_context
from scheduler_service.logic.sweep import Budget, run_shards, sweep
from scheduler_service.models import ScheduledRun


@lambda_handler()
@event_parser(model=ScheduledRun)
def handler(event: ScheduledRun, context: LambdaContext) -> dict[str, Any]:
    now = int(clock.now_epoch())
    ctx = sweep_context()
    budget = Budget(max_entries=event.detail.max_entries, remaining_ms=context.get_remaining_time_in_millis,
                    reserve_ms=min(30_000, context.get_remaining_time_in_millis() // 5))
    shards = run_shards(ctx.shards, event.detail.group, event.detail.groups, now)
    if not shards:
        logger.warning("this group has no expiry shard: more groups than shards", group=event.detail.group,
                       groups=event.detail.groups, shards=ctx.shards)
    report = sweep(ctx, now, budget, shards)
    metrics.add_metric(name="FilesSwept", unit=MetricUnit.Count, value=report.files_removed)
    # 1 when the run ended with due entries left (its budget or its time spent): removals are falling
    # behind; SweepBehindAlarm fires when that lasts an hour.
    metrics.add_metric(name="SweepRunsIncomplete", unit=MetricUnit.Count, value=0 if report.complete else 1)
    logger.info("sweep finished", group=event.detail.group, groups=event.detail.groups, shards=len(shards),
                **report.dump())
    return report.dump()
