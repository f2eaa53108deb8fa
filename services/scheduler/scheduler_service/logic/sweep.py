"""The sweep: remove what has expired, then every file that nothing keeps any more.

Each run works through its shards of the expiry index (a Query per page, never a Scan), starting
at a different shard each time, until nothing is due or its budget (entries, time left) is spent;
what it leaves stays due. The schedule starts one fan-out run a period, which starts one run per
group of shards (group_runs; one group per shard by default): they go in parallel, each with its own
budget, and together visit every shard each period. A group's run that stops with due entries left
starts the group's next run (next_run) until the period is over, so the work of a period grows with
the number of groups and the time, and no two runs of one period sweep the same shard. Runs write
nothing but the entries and items they remove: there is no key that every run writes. When a group's
runs stop, the last one counts what is left due in its shards (measure_backlog: the backlog metric).

Per due entry:
  META of a partition (project, share copy, cart item, order, share token, mobile upload)
      -> removed with everything that goes with it, only if still expired (imagestore.data.holders);
         the files it held are looked at in the same run
  a file -> by file_action below: removed (marked deleting, objects deleted, items deleted),
      filed again under its real expiry, or taken out of the index while held
  any other item -> deleted with its companions if expired
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from imagestore import keys
from imagestore.config import TenantSettings
from imagestore.data.expiry import DueEntry, ExpiryStore
from imagestore.data.holders import HolderStore
from imagestore.errors import Throttled, TransactionConflict
from imagestore.models.files import FileRecord, FileStatus, abandoned_due, pending_deadline
from imagestore.observability import logger

PAGE = 500  # index entries per Query (KEYS_ONLY entries are small: one page is far below 1 MB)
BATCH = 1000  # due entries handled together: one DeleteObjects call takes 1,000 keys
MARKERS = 8  # conditional updates in flight at once
READERS = 8  # shard Queries in flight at once (the first page of every shard)
MAX_UNPIN_DEPTH = 8  # copies of copies: projects unpinned by a removal, removed in the same run
BACKLOG_PAGE = 1000  # due entries per Query when counting what a run left
BACKLOG_PAGES = 20  # pages a shard at most: the backlog is counted up to 20,000 entries a shard


class FileAction(StrEnum):
    REMOVE_EXPIRED = "remove_expired"  # unheld, its retention is over
    REMOVE_ABANDONED = "remove_abandoned"  # an upload requested and never completed
    FINISH_REMOVAL = "finish_removal"  # already marked deleting by a run or a logout that did not finish
    UNINDEX = "unindex"  # held: the hold keeps it; releasing the last hold files it again
    REFILE = "refile"  # unheld but not yet due: file it under its real expiry


def file_action(record: FileRecord, now: int, upload_url_seconds: int) -> tuple[FileAction, int]:
    """What the sweep does to a due file, and (for REFILE) when it is due instead."""
    if record.status is FileStatus.DELETING:
        return FileAction.FINISH_REMOVAL, now
    if record.hold_count > 0:
        return FileAction.UNINDEX, now
    if record.expires_at <= now:
        return FileAction.REMOVE_EXPIRED, now
    if record.status is FileStatus.PENDING:
        deadline = abandoned_due(
            record.created_at, upload_url_seconds, record.expires_at, multipart=record.multipart_upload_id is not None
        )
        if deadline <= now:
            return FileAction.REMOVE_ABANDONED, now
        return FileAction.REFILE, deadline
    return FileAction.REFILE, record.expires_at


@dataclass
class Budget:
    """How much one run may do: at most max_entries due entries, and stop while reserve_ms are left."""

    max_entries: int = 50_000
    remaining_ms: Callable[[], int] = lambda: 900_000
    reserve_ms: int = 30_000
    used: int = 0

    def spent(self) -> bool:
        return self.used >= self.max_entries or self.remaining_ms() < self.reserve_ms


@dataclass
class SweepReport:
    """What one run did (logged and returned by the handler)."""

    entries: int = 0
    files_removed: int = 0
    files_refiled: int = 0
    files_unindexed: int = 0
    files_kept: int = 0  # refused by the mark's condition: a hold or an extension won the race
    holders_removed: int = 0
    items_removed: int = 0
    left_for_next_run: int = 0
    complete: bool = True
    removed_file_ids: list[str] = field(default_factory=list)

    def dump(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "removed_file_ids"}


@dataclass(frozen=True)
class SweepContext:
    expiry: ExpiryStore
    holders: HolderStore
    tenant: Callable[[str], TenantSettings]
    shards: int


def run_shards(shards: int, group: int, groups: int, now: int) -> list[int]:
    """The shards of group (those whose number % groups == group), in the order one run visits them:
    from a different one each minute, so that a run whose budget runs out does not always leave the
    same shards for later."""
    mine = list(range(group, shards, groups))
    start = (now // 60) % len(mine) if mine else 0
    return mine[start:] + mine[:start]


def group_runs(groups: int, now: int, period_seconds: int, max_entries: int) -> list[dict[str, Any]]:
    """The events of one period's runs: one per group, each allowed to go on until the next period."""
    return [
        {"detail": {"group": group, "groups": groups, "until": now + period_seconds, "maxEntries": max_entries}}
        for group in range(groups)
    ]


def next_run(
    group: int, groups: int, until: int | None, hop: int, max_entries: int, report: SweepReport, now: int
) -> dict[str, Any] | None:
    """The event of the group's next run when this one stopped with due entries left and its period is
    not over (until); None when the group is done for this period (or the run was invoked by hand)."""
    if report.complete or until is None or now >= until:
        return None
    return {"detail": {"group": group, "groups": groups, "until": until, "hop": hop + 1, "maxEntries": max_entries}}


@dataclass(frozen=True)
class Backlog:
    """What is left due in a run's shards: entries (counted up to BACKLOG_PAGES pages a shard; counted_all
    False when a shard had more) and the due time of the oldest (None: nothing due)."""

    entries: int = 0
    counted_all: bool = True
    oldest_due_at: int | None = None

    def age(self, now: int) -> int:
        """Seconds the oldest due entry has waited past its due time (0 when nothing is due)."""
        return 0 if self.oldest_due_at is None else max(0, now - self.oldest_due_at)


def measure_backlog(ctx: SweepContext, shards: Sequence[int], now: int) -> Backlog:
    """Count the due entries left in shards (KEYS_ONLY Query pages, oldest first)."""
    entries, counted_all, oldest = 0, True, None
    for shard in shards:
        start: Any = None
        for page in range(BACKLOG_PAGES):
            due, start = ctx.expiry.due(shard, now, limit=BACKLOG_PAGE, start=start)
            if page == 0 and due:
                first = keys.expiry_sort_epoch(due[0].xsk)
                oldest = first if oldest is None else min(oldest, first)
            entries += len(due)
            if start is None:
                break
        else:
            counted_all = False
    return Backlog(entries=entries, counted_all=counted_all, oldest_due_at=oldest)


def sweep(ctx: SweepContext, now: int, budget: Budget, shards: Sequence[int] | None = None) -> SweepReport:
    """One run of the sweep over shards (in that order; default: every shard), within budget. Due
    entries of all its shards are handled together, up to BATCH at a time, so that deletes fill their
    batches.

    The first page of the shards is read concurrently (READERS Queries in flight): most shards have
    little or nothing due, and a run then waits for about one Query instead of one per shard in a row.
    Shards with more pages are read on one page at a time, checking the budget before each."""
    report = SweepReport()
    order = list(range(ctx.shards)) if shards is None else list(shards)
    if not order:
        return report
    if budget.spent():
        report.complete = False
        return report
    remaining = budget.max_entries - budget.used
    wave = order[: max(1, min(len(order), remaining))]
    limit = max(1, min(PAGE, remaining // len(wave)))
    with ThreadPoolExecutor(min(READERS, len(wave))) as pool:
        first_pages = list(pool.map(lambda shard: ctx.expiry.due(shard, now, limit=limit), wave))
    collected: list[DueEntry] = []

    def take(entries: list[DueEntry]) -> None:
        nonlocal collected
        budget.used += len(entries)
        report.entries += len(entries)
        collected.extend(entries)
        if len(collected) >= BATCH:
            sweep_entries(ctx, collected, now, report)
            collected = []

    more: list[tuple[int, Any]] = []
    for shard, (entries, start) in zip(wave, first_pages, strict=True):
        take(entries)
        if start is not None:
            more.append((shard, start))
    more.extend((shard, None) for shard in order[len(wave) :])
    for shard, start in more:
        while True:
            if budget.spent():
                report.complete = False
                sweep_entries(ctx, collected, now, report)
                return report
            entries, start = ctx.expiry.due(
                shard, now, limit=max(1, min(PAGE, budget.max_entries - budget.used)), start=start
            )
            take(entries)
            if start is None:
                break
    sweep_entries(ctx, collected, now, report)
    return report


def sweep_entries(ctx: SweepContext, entries: Sequence[DueEntry], now: int, report: SweepReport) -> None:
    """Handle one page of due entries: partitions and plain items first, then files (those the
    removed holders released included, so they go in this same run)."""
    file_keys = [e.key for e in entries if e.is_file]
    for entry in entries:
        if entry.is_file:
            continue
        try:
            if entry.is_partition_head:
                file_keys.extend(remove_expired_partition(ctx, entry.pk, now, report))
            elif ctx.expiry.remove_expired_item(entry.key, now):
                report.items_removed += 1
        except (Throttled, TransactionConflict) as exc:
            report.left_for_next_run += 1
            logger.warning("expired item left for the next run", pk=entry.pk, sk=entry.sk, reason=str(exc))
    if file_keys:
        sweep_files(ctx, ctx.expiry.read_files(_unique(file_keys)), now, report)


def remove_expired_partition(
    ctx: SweepContext, pk: str, now: int, report: SweepReport, depth: int = 0
) -> list[dict[str, str]]:
    """Remove a holder (or a share token, a mobile upload) if it is still expired; the keys of the
    files it released. A deleted project it unpinned is looked at in the same run (and so on down
    a chain of copies, to a bounded depth), so that what it released goes in this run too."""
    partition = ctx.holders.read(pk)
    if partition.meta is None and not partition.others and not partition.links:
        return []
    removed = ctx.holders.remove(partition, now, only_if_expired=True)
    if removed is None:
        return []
    report.holders_removed += 1
    files = list(removed.files)
    if depth < MAX_UNPIN_DEPTH:
        for unpinned in removed.unpinned:
            files.extend(remove_expired_partition(ctx, unpinned, now, report, depth + 1))
    return files


def sweep_files(ctx: SweepContext, records: Iterable[FileRecord], now: int, report: SweepReport) -> None:
    """Decide for each file, mark those to remove (conditionally), then remove the marked in batches."""
    to_mark: list[tuple[FileRecord, FileAction]] = []
    marked: list[FileRecord] = []
    for record in records:
        action, due_at = file_action(record, now, ctx.tenant(record.tenant_id).upload_url_seconds)
        if action is FileAction.FINISH_REMOVAL:
            marked.append(record)
        elif action in (FileAction.REMOVE_EXPIRED, FileAction.REMOVE_ABANDONED):
            to_mark.append((record, action))
        elif action is FileAction.UNINDEX:
            report.files_unindexed += ctx.expiry.unindex_held(record)
        else:
            report.files_refiled += ctx.expiry.refile(record, due_at)

    def mark(item: tuple[FileRecord, FileAction]) -> bool:
        record, action = item
        if action is FileAction.REMOVE_EXPIRED:
            return ctx.expiry.mark_expired(record, now)
        created_before = now - (pending_deadline(0, ctx.tenant(record.tenant_id).upload_url_seconds))
        return ctx.expiry.mark_abandoned(record, created_before)

    if len(to_mark) > 1:
        with ThreadPoolExecutor(max_workers=MARKERS) as pool:
            outcomes = list(pool.map(mark, to_mark))
    else:
        outcomes = [mark(i) for i in to_mark]
    for (record, _), won in zip(to_mark, outcomes, strict=True):
        if won:
            marked.append(record)
        else:
            report.files_kept += 1
    removal = ctx.expiry.remove_files(marked)
    report.files_removed += len(removal.removed)
    report.removed_file_ids.extend(r.file_id for r in removal.removed)
    report.left_for_next_run += len(removal.failed)
    if removal.failed:
        logger.warning(
            "files left for the next run", count=len(removal.failed), file_ids=[r.file_id for r in removal.failed[:20]]
        )


def _unique(file_keys: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    return list({(k["pk"], k["sk"]): k for k in file_keys}.values())
