"""The sweep's rules, without AWS: what happens to a due file, how a run is bounded, key shapes."""

from __future__ import annotations

from typing import Any

import pytest

from imagestore import keys
from imagestore.data.expiry import DueEntry
from imagestore.models.files import FileRecord, FileStatus, pending_deadline
from scheduler_service.logic.sweep import Budget, FileAction, SweepContext, file_action, run_shards, sweep
from scheduler_service.models import ScheduledRun

NOW = 1_800_000_000
URL_SECONDS = 900


def record(**changes: Any) -> FileRecord:
    base = dict(
        tenant_id="t1",
        user_id="u1",
        file_id="f1",
        session_id="s1",
        filename="a.jpg",
        content_type="image/jpeg",
        size_bytes=10,
        status=FileStatus.AVAILABLE,
        created_at=NOW - 7 * 3600,
        expires_at=NOW - 3600,
    )
    return FileRecord(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, (FileAction.REMOVE_EXPIRED, NOW)),
        ({"expires_at": NOW}, (FileAction.REMOVE_EXPIRED, NOW)),
        ({"hold_count": 1}, (FileAction.UNINDEX, NOW)),
        ({"hold_count": 2, "status": FileStatus.AVAILABLE, "expires_at": NOW + 10}, (FileAction.UNINDEX, NOW)),
        ({"expires_at": NOW + 60}, (FileAction.REFILE, NOW + 60)),
        ({"status": FileStatus.DELETING, "expires_at": NOW + 60}, (FileAction.FINISH_REMOVAL, NOW)),
        # A session upload never completed waits for its retention's end (it is filed there: never refiled).
        (
            {"status": FileStatus.PENDING, "created_at": NOW - 10, "expires_at": NOW + 6 * 3600},
            (FileAction.REFILE, NOW + 6 * 3600),
        ),
        (
            {"status": FileStatus.PENDING, "created_at": NOW - URL_SECONDS - 3600, "expires_at": NOW + 3600},
            (FileAction.REFILE, NOW + 3600),
        ),
        # A multipart upload goes at the deadline (S3 keeps its parts until it is aborted).
        (
            {
                "status": FileStatus.PENDING,
                "created_at": NOW - URL_SECONDS - 3600,
                "expires_at": NOW + 3600,
                "multipart_upload_id": "upload-1",
            },
            (FileAction.REMOVE_ABANDONED, NOW),
        ),
        # An extended one (retention more than a day after the deadline) goes at the deadline.
        (
            {"status": FileStatus.PENDING, "created_at": NOW - 10, "expires_at": NOW + 30 * 86400},
            (FileAction.REFILE, pending_deadline(NOW - 10, URL_SECONDS)),
        ),
        (
            {"status": FileStatus.PENDING, "created_at": NOW - URL_SECONDS - 3600, "expires_at": NOW + 30 * 86400},
            (FileAction.REMOVE_ABANDONED, NOW),
        ),
        ({"status": FileStatus.PENDING, "created_at": NOW, "expires_at": NOW + 60}, (FileAction.REFILE, NOW + 60)),
    ],
)
def test_what_the_sweep_does_to_a_due_file(changes: dict[str, Any], expected: tuple[FileAction, int]) -> None:
    assert file_action(record(**changes), NOW, URL_SECONDS) == expected


def test_a_held_file_is_never_removed_whatever_its_expiry() -> None:
    for status in (FileStatus.AVAILABLE, FileStatus.PENDING):
        for expires_at in (NOW - 86400, NOW, NOW + 86400):
            action, _ = file_action(record(hold_count=1, status=status, expires_at=expires_at), NOW, URL_SECONDS)
            assert action is FileAction.UNINDEX


def test_a_file_being_deleted_is_gone_for_readers() -> None:
    assert record(status=FileStatus.DELETING, expires_at=NOW + 3600).is_expired(NOW)
    assert not record(expires_at=NOW + 1).is_expired(NOW)
    assert not record(hold_count=1).is_expired(NOW)


def test_due_entries_are_told_apart_by_key_shape() -> None:
    file_entry = DueEntry(pk=keys.tenant_user_pk("t1", "u1"), sk=keys.file_sk("f1"), xsk="x")
    link = DueEntry(pk=keys.project_pk("t1", "p1"), sk=keys.link_sk("f1"), xsk="x")
    project = DueEntry(pk=keys.project_pk("t1", "p1"), sk=keys.META, xsk="x")
    assert file_entry.is_file and not file_entry.is_partition_head
    assert not link.is_file
    assert project.is_partition_head and not project.is_file


def test_user_partition_keys_parse_and_nothing_else_does() -> None:
    assert keys.parse_tenant_user_pk(keys.tenant_user_pk("t1", "u1")) == ("t1", "u1")
    for other in (keys.project_pk("t1", "p1"), keys.projects_of_user("t1", "u1"), "T##U#u", "X#t#U#u"):
        assert keys.parse_tenant_user_pk(other) is None


def test_pending_uploads_are_due_an_hour_after_their_upload_url() -> None:
    assert pending_deadline(NOW, URL_SECONDS) == NOW + URL_SECONDS + 3600


class FakeExpiry:
    """An index with `backlog` due files in every shard, that records what was queried."""

    def __init__(self, backlog: int) -> None:
        self.backlog = backlog
        self.queried: list[int] = []
        self.removed: list[list[FileRecord]] = []

    def due(self, shard: int, now: int, *, limit: int, start: Any = None) -> tuple[list[DueEntry], Any]:
        self.queried.append(shard)
        offset = start or 0
        count = min(limit, self.backlog - offset)
        entries = [DueEntry(pk="T#t1#U#u1", sk=f"FILE#{shard}-{offset + n}", xsk="x") for n in range(count)]
        return entries, (offset + count if offset + count < self.backlog else None)

    def read_files(self, file_keys: list[dict[str, str]]) -> list[FileRecord]:
        return [record(file_id=k["sk"].removeprefix("FILE#")) for k in file_keys]

    def mark_expired(self, rec: FileRecord, now: int) -> bool:
        return True

    def remove_files(self, records: list[FileRecord]) -> Any:
        from imagestore.data.expiry import Removal

        self.removed.append(list(records))
        return Removal(removed=list(records))


def context(expiry: FakeExpiry, shards: int = 4) -> SweepContext:
    from imagestore.config import TenantSettings

    return SweepContext(expiry=expiry, holders=None, tenant=lambda _: TenantSettings(), shards=shards)  # type: ignore[arg-type]


def test_a_run_stops_at_its_entry_budget_and_says_so() -> None:
    expiry = FakeExpiry(backlog=300)
    report = sweep(context(expiry), NOW, Budget(max_entries=500))
    assert report.entries == 500 and report.files_removed == 500
    assert not report.complete


def test_a_run_stops_when_its_time_is_nearly_up() -> None:
    expiry = FakeExpiry(backlog=1000)
    remaining = iter([60_000, 60_000, 5_000])
    report = sweep(context(expiry), NOW, Budget(remaining_ms=lambda: next(remaining), reserve_ms=10_000))
    assert sorted(expiry.queried[:4]) == [0, 1, 2, 3], "the first page of every shard, read together"
    assert expiry.queried[4:] == [0] and not report.complete, "then page by page while time is left"
    assert report.files_removed == 2500, "what was read before time ran out is still handled"


def test_a_run_with_no_time_left_reads_nothing() -> None:
    expiry = FakeExpiry(backlog=10)
    report = sweep(context(expiry), NOW, Budget(remaining_ms=lambda: 1_000, reserve_ms=10_000))
    assert expiry.queried == [] and not report.complete


def test_a_run_without_shards_named_visits_every_shard() -> None:
    expiry = FakeExpiry(backlog=1)
    report = sweep(context(expiry, shards=4), NOW, Budget())
    assert sorted(expiry.queried) == [0, 1, 2, 3] and report.complete and report.files_removed == 4


def test_a_run_visits_only_its_shards() -> None:
    expiry = FakeExpiry(backlog=1)
    report = sweep(context(expiry, shards=8), NOW, Budget(), shards=[5, 1])
    assert sorted(expiry.queried) == [1, 5] and report.complete and report.files_removed == 2


def test_a_run_with_no_shards_reads_nothing() -> None:
    expiry = FakeExpiry(backlog=1)
    report = sweep(context(expiry, shards=8), NOW, Budget(), shards=[])
    assert expiry.queried == [] and report.complete and report.entries == 0


def test_a_small_budget_goes_to_the_shards_from_the_first_one_on() -> None:
    expiry = FakeExpiry(backlog=5)
    report = sweep(context(expiry, shards=4), NOW, Budget(max_entries=2), shards=[3, 0, 1, 2])
    assert sorted(expiry.queried) == [0, 3] and report.entries == 2 and not report.complete


@pytest.mark.parametrize(("shards", "groups"), [(32, 1), (32, 4), (32, 5), (8, 3), (4, 4)])
def test_the_groups_of_a_period_share_out_every_shard(shards: int, groups: int) -> None:
    runs = [run_shards(shards, group, groups, NOW) for group in range(groups)]
    assert sorted(s for run in runs for s in run) == list(range(shards)), "each shard in exactly one group"
    assert all(s % groups == group for group, run in enumerate(runs) for s in run)


def test_runs_of_a_group_start_at_a_different_shard_each_minute() -> None:
    firsts = {run_shards(32, 1, 4, NOW + minute * 60)[0] for minute in range(8)}
    assert firsts == {1, 5, 9, 13, 17, 21, 25, 29}
    assert run_shards(32, 1, 4, NOW) == run_shards(32, 1, 4, NOW + 59), "the same within a minute"


def test_a_group_beyond_the_shards_has_none() -> None:
    assert run_shards(4, 5, 8, NOW) == []


@pytest.mark.parametrize(
    "detail",
    [{"group": 4, "groups": 4}, {"group": -1, "groups": 4}, {"groups": 0}, {"maxEntries": 0}, {"group": "one"}],
)
def test_a_run_with_impossible_options_is_refused(detail: dict[str, Any]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ScheduledRun.model_validate({"detail": detail})


def test_a_run_without_options_sweeps_every_shard_as_one_group() -> None:
    run = ScheduledRun.model_validate({})
    assert (run.detail.group, run.detail.groups) == (0, 1)


def test_the_first_pages_share_the_entry_budget() -> None:
    expiry = FakeExpiry(backlog=10_000)
    report = sweep(context(expiry, shards=4), NOW, Budget(max_entries=1000))
    assert report.entries == 1000 and sorted(expiry.queried) == [0, 1, 2, 3]


def test_deletes_of_many_shards_are_batched_together() -> None:
    expiry = FakeExpiry(backlog=10)
    sweep(context(expiry, shards=32), NOW, Budget())
    assert [len(batch) for batch in expiry.removed] == [320]


def test_a_period_starts_one_run_per_group_each_allowed_until_the_next_period() -> None:
    from scheduler_service.logic.sweep import group_runs

    runs = group_runs(8, NOW, 900, 50_000)
    assert [r["detail"]["group"] for r in runs] == list(range(8))
    assert {(r["detail"]["groups"], r["detail"]["until"]) for r in runs} == {(8, NOW + 900)}
    assert all(ScheduledRun.model_validate(r).detail.until == NOW + 900 for r in runs), "events the handler takes"


@pytest.mark.parametrize(
    ("complete", "until", "now", "continues"),
    [
        (False, NOW + 900, NOW + 300, True),
        (True, NOW + 900, NOW + 300, False),  # nothing left
        (False, NOW + 900, NOW + 900, False),  # the period is over: the next fan-out takes the group
        (False, None, NOW, False),  # invoked by hand
    ],
)
def test_a_group_goes_on_only_with_work_left_within_its_period(
    complete: bool, until: int | None, now: int, continues: bool
) -> None:
    from scheduler_service.logic.sweep import SweepReport, next_run

    follow = next_run(3, 8, until, 2, 500, SweepReport(complete=complete), now)
    assert (follow is not None) is continues
    if follow is not None:
        assert follow["detail"] == {"group": 3, "groups": 8, "until": until, "hop": 3, "maxEntries": 500}


def test_the_backlog_counts_what_is_due_up_to_a_bound_and_dates_the_oldest() -> None:
    from scheduler_service.logic.sweep import BACKLOG_PAGE, BACKLOG_PAGES, measure_backlog

    class Dated(FakeExpiry):
        def due(self, shard: int, now: int, *, limit: int, start: Any = None) -> tuple[list[DueEntry], Any]:
            entries, last = super().due(shard, now, limit=limit, start=start)
            return [DueEntry(e.pk, e.sk, keys.expiry_sort(NOW - 600 - shard, e.pk, e.sk)) for e in entries], last

    small = measure_backlog(context(Dated(backlog=30)), [0, 2], NOW)
    assert (small.entries, small.counted_all, small.age(NOW)) == (60, True, 602)
    large = measure_backlog(context(Dated(backlog=BACKLOG_PAGE * BACKLOG_PAGES + 1)), [1], NOW)
    assert large.entries == BACKLOG_PAGE * BACKLOG_PAGES and not large.counted_all
    empty = measure_backlog(context(Dated(backlog=0)), [0, 1], NOW)
    assert (empty.entries, empty.oldest_due_at, empty.age(NOW)) == (0, None, 0)
