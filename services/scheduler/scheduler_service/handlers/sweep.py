"""Schedule -> the sweep's fan-out: one run per group of shards, each a bounded run of the expiry
sweep that starts the group's next run while due entries are left in the period (every shard, and no
next run, when the event names no group: a run invoked by hand)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestore import clock
from imagestore.errors import Throttled
from imagestore.observability import lambda_handler, logger, metrics
from scheduler_service.logic.context import function_invoker, sweep_context
from scheduler_service.logic.sweep import Backlog, Budget, group_runs, measure_backlog, next_run, run_shards, sweep
from scheduler_service.models import RunOptions, ScheduledRun


@lambda_handler()
@event_parser(model=ScheduledRun)
def handler(event: ScheduledRun, context: LambdaContext) -> dict[str, Any]:
    now = int(clock.now_epoch())
    if event.detail.fan_out:
        return fan_out(event.detail, context, now)
    return sweep_group(event.detail, context, now)


def fan_out(detail: RunOptions, context: LambdaContext, now: int) -> dict[str, Any]:
    """Start this period's runs, one per group (asynchronous invocations of this function). A failed
    invocation fails this run, which Lambda retries: a group started twice is harmless."""
    runs = group_runs(detail.groups, now, detail.period_seconds, detail.max_entries)
    invoker = function_invoker()
    for run in runs:
        invoker.invoke_async(context.invoked_function_arn, run)
    metrics.add_metric(name="SweepRunsStarted", unit=MetricUnit.Count, value=len(runs))
    logger.info("sweep fanned out", groups=detail.groups, until=now + detail.period_seconds)
    return {"runs_started": len(runs), "groups": detail.groups}


def sweep_group(detail: RunOptions, context: LambdaContext, now: int) -> dict[str, Any]:
    ctx = sweep_context()
    budget = Budget(
        max_entries=detail.max_entries,
        remaining_ms=context.get_remaining_time_in_millis,
        reserve_ms=min(30_000, context.get_remaining_time_in_millis() // 5),
    )
    shards = run_shards(ctx.shards, detail.group, detail.groups, now)
    if not shards:
        logger.warning(
            "this group has no expiry shard: more groups than shards",
            group=detail.group,
            groups=detail.groups,
            shards=ctx.shards,
        )
    report = sweep(ctx, now, budget, shards)
    follow = next_run(
        detail.group, detail.groups, detail.until, detail.hop, detail.max_entries, report, int(clock.now_epoch())
    )
    continued = False
    if follow is not None:
        try:
            function_invoker().invoke_async(context.invoked_function_arn, follow)
            continued = True
        except Throttled as exc:  # what is left stays due: the next period's run of this group takes it
            logger.warning("the group's next run could not be started", group=detail.group, reason=str(exc))
    metrics.add_metric(name="FilesSwept", unit=MetricUnit.Count, value=report.files_removed)
    # 1 when the group's last run of the period ended with due entries left (its budget or its time spent,
    # and no next run): removals are falling behind; SweepBehindAlarm fires when that lasts an hour. A run
    # that started its group's next one counts 0: the group is still at work within its period.
    metrics.add_metric(
        name="SweepRunsIncomplete", unit=MetricUnit.Count, value=0 if report.complete or continued else 1
    )
    out = report.dump()
    if not continued:
        # The group's last run of the period: what it leaves due (summed over the groups: the backlog).
        backlog = Backlog() if report.complete else measure_backlog(ctx, shards, now)
        metrics.add_metric(name="SweepBacklog", unit=MetricUnit.Count, value=backlog.entries)
        metrics.add_metric(name="SweepBacklogAgeSeconds", unit=MetricUnit.Seconds, value=backlog.age(now))
        out.update(
            backlog=backlog.entries, backlog_counted_all=backlog.counted_all, backlog_age_seconds=backlog.age(now)
        )
    out.update(continued=continued, hop=detail.hop)
    logger.info("sweep finished", group=detail.group, groups=detail.groups, shards=len(shards), **out)
    return out
