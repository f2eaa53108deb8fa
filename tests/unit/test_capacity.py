"""benchmarks.capacity (`make capacity`): DynamoDB's unit rules, index writes by projection, the limits
model, the expiry-shard sample, the JSON rows and the target verdicts. The benchmark itself runs the
handlers against moto (minutes); these check its arithmetic."""

from __future__ import annotations

import argparse
import random
from typing import Any

import pytest

from benchmarks import capacity as cap

ROW_KEYS = {
    "name",
    "projectFiles",
    "changedFiles",
    "projects",
    "wcu",
    "rcu",
    "maxPartitionWcu",
    "firstLimitPerSecond",
    "firstLimit",
    "lifeWcu",
    "lifeRcu",
    "lifeMaxPartitionWcu",
    "lifeExpiryIndexWrites",
}
PROJECT = "T#shop-a#P#01hz3k6m9q2w4e6r8t0y2u4i6o"  # a project's partition (an id: spread with the traffic)
ARGS = argparse.Namespace(lambda_base_ms=15.0, dynamodb_call_ms=6.0, s3_call_ms=20.0)


def item(**attributes: Any) -> dict[str, Any]:
    return {k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in attributes.items()}


def usage(*touches: cap.Touch, api_calls: int = 1) -> cap.Usage:
    measured = cap.Usage(api_calls=api_calls)
    measured.touches.extend(touches)
    return measured


@pytest.fixture
def indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        cap,
        "INDEXES",
        {
            "gsi1": cap.Index("gsi1pk", "gsi1sk", None),  # ALL
            "expiry": cap.Index("xpk", "xsk", ("pk", "sk", "xpk", "xsk")),  # KEYS_ONLY
        },
    )


def test_units_follow_dynamodb_rounding() -> None:
    assert [cap.write_units(n) for n in (1, 1024, 1025)] == [1, 1, 2]
    assert cap.write_units(100, transactional=True) == 2
    assert [cap.read_units(n, consistent=True) for n in (1, 4096, 4097)] == [1, 1, 2]
    assert cap.read_units(100, consistent=False) == 0.5
    assert cap.item_size(item(pk="ab", n=12)) == len("pk") + 2 + len("n") + 2


def test_the_deployed_indexes_are_read_from_the_template() -> None:
    deployed = cap.deployed_indexes()
    assert deployed["expiry"].hash_key == "xpk" and deployed["gsi1"].hash_key == "gsi1pk"


def test_index_writes_follow_the_projection(indexes: None) -> None:
    meta = item(pk="T#a#P#p", sk="META", gsi1pk="T#a#U#u#PROJECTS", gsi1sk="1#p", xpk="EXP#01", xsk="9#p", pinCount=0)
    pinned = {**meta, "pinCount": {"N": "1"}}
    assert [t.where for t in cap._write(meta, pinned, transactional=False)] == ["table", "index gsi1"]
    moved = {**meta, "xsk": {"S": "10#p"}}
    wheres = [t.where for t in cap._write(meta, moved, transactional=False)]
    assert wheres.count("index expiry") == 2 and wheres.count("index gsi1") == 1  # delete + put; ALL copy
    unindexed = {k: v for k, v in meta.items() if k not in ("xpk", "xsk")}
    assert [t.where for t in cap._write(meta, unindexed, transactional=True)].count("index expiry") == 1
    assert all(t.wcu == 2 for t in cap._write(meta, unindexed, transactional=True))


def test_api_gateway_is_one_budget_and_an_upload_spends_two_calls(indexes: None) -> None:
    model = cap.Model(ARGS, shards=32, skew=1.1)
    limits, _ = model.limits(usage(cap.Touch("table", "T#shop-a#U#alice", wcu=1), api_calls=2))
    assert limits[0].rate == 5_000 and "2 calls" in limits[0].what


def test_partitions_of_a_user_are_per_entity_and_expiry_shards_are_shared(indexes: None) -> None:
    model = cap.Model(ARGS, shards=32, skew=1.25)
    limits, per_entity = model.limits(
        usage(
            cap.Touch("table", "T#shop-a#U#alice", wcu=400),
            *(cap.Touch("index expiry", f"EXP#{n:02d}", wcu=10) for n in range(32)),
        )
    )
    assert per_entity[0].rate == pytest.approx(2.5)  # 1,000 WCU/s of alice's partition
    shared = next(limit for limit in limits if "EXP#{n}" in limit.what)
    assert shared.rate == pytest.approx(32 / 1.25 * 1_000 / 320)


def test_the_expiry_shard_sample_uses_the_real_shard_function() -> None:
    busiest, over_sample = cap.shard_counts(32, 3_200, 3, random.Random(1))
    assert 100 < busiest < 160  # mean 100 a shard a second
    assert 300 <= over_sample < 400


def test_rows_have_the_documented_fields(indexes: None) -> None:
    model = cap.Model(ARGS, shards=32, skew=1.1)
    result = cap.Result(
        "project.save",
        "PUT",
        usage(cap.Touch("table", PROJECT, wcu=1), cap.Touch("index gsi1", "T#shop-a#U#alice#PROJECTS", wcu=2)),
        files=400,
        changed=0,
        projects=1,
    )
    row = cap.row(result, model)
    assert set(row) == ROW_KEYS
    assert (row["wcu"], row["maxPartitionWcu"], row["firstLimitPerSecond"]) == (3, 2, 10_000)
    missing = cap.row(cap.Result("share.copy", "copy", None, note="not measured: 500"), model)
    assert set(missing) == ROW_KEYS and missing["wcu"] is None


def test_targets_are_judged_against_the_issue(indexes: None) -> None:
    def save(changed: int, wcu: float) -> cap.Result:
        return cap.Result(
            "project.save",
            "PUT",
            usage(cap.Touch("table", PROJECT, wcu=wcu, rcu=1)),
            files=400,
            changed=changed,
            projects=1,
        )

    copy = cap.Result("share.copy", "copy", usage(cap.Touch("table", PROJECT, wcu=14)), files=400, projects=1)
    verdicts = {t.what.split(":")[0]: t.met for t in cap.targets([save(0, 3), save(1, 12), save(5, 32), copy], None)}
    assert verdicts["save, no image changed (400 images)"] is True
    assert verdicts["save, 1 image(s) replaced (400 images)"] is True  # +9 WCU for 2 hold changes
    assert verdicts["share.copy (1 x 400 images)"] is False
    assert verdicts[f"list of {cap.LIST_PROJECTS} projects"] is None  # not measured


class _Captured:
    """A table that keeps what is put (the webhook store's items, as DynamoDB would store them)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put(self, item: dict[str, Any], **_: Any) -> None:
        from imagestore.data.table import serialize

        self.items.append(serialize(item))


def test_each_webhook_event_writes_its_log_item_with_a_gsi1_copy_and_one_item_per_attempt(indexes: None) -> None:
    """The write cost of an event (docs/webhooks.md, `make capacity`): the event log item (within 1 KB: 1 WCU,
    and 1 more for its gsi1 copy: gsi1 projects ALL) and one attempt item (1 WCU) per delivery attempt, for the
    largest payload a producer sends (file.refused with a 300-character message)."""
    from imagestore import webhook_events
    from imagestore.data.webhooks import WebhookStore
    from imagestore.models.webhooks import AttemptRecord

    table = _Captured()
    store = WebhookStore(table)  # type: ignore[arg-type]
    event = webhook_events.file_refused(
        "t" * 32,
        "u" * 64,
        "01m995jdr0037xje0stn2j0rej",
        "unprocessable",
        "m" * 400,
        '"0123456789abcdef0123456789abcdef"',
        1_796_000_000,
    )
    store.put_event(event, 1_796_000_000)
    store.add_attempt(
        event.tenantId,
        AttemptRecord(
            attemptId="01m995jdr0037xje0stn2j0rej",
            endpointId="01m995jdre0qc1vx9embpcsdw1",
            eventId=event.id,
            eventType=event.type,
            attempt=10,
            at=1_796_000_000,
            ok=False,
            status=None,
            error="connection failed: ConnectionRefusedError",
            latencyMs=10_000,
        ),
        1_796_000_000_000,
    )
    event_item, attempt_item = table.items
    assert cap.write_units(cap.item_size(event_item)) == 1
    assert cap.write_units(cap.index_item_size(event_item, cap.INDEXES["gsi1"].projected)) == 1
    assert cap.write_units(cap.item_size(attempt_item)) == 1
    assert "gsi1pk" not in attempt_item and "xpk" not in attempt_item and "xpk" not in event_item


def test_batched_uploads_are_judged_by_api_calls_for_a_400_photo_book(indexes: None) -> None:
    batch = cap.Result(
        "upload.batch", "batch", usage(cap.Touch("table", "T#shop-a#U#alice", wcu=100), api_calls=2), files=100
    )
    verdicts = {t.what: (t.met, t.measured) for t in cap.targets([batch], None)}
    met, measured = verdicts["400 uploads in batches: <= 10 API calls for the tickets and completions"]
    assert met is True and measured.startswith("8 API calls")
    one_by_one = cap.Result("upload.batch", "batch", usage(api_calls=2), files=1)
    assert [t.met for t in cap.targets([one_by_one], None) if t.what.startswith("400 uploads")] == [False]
    row = cap.row(batch, cap.Model(ARGS, shards=32, skew=1.1))
    assert row["name"] == "upload.batch" and row["wcu"] == 100


def test_a_life_sums_its_later_runs_without_empty_shard_reads_and_less_what_is_not_its_own(indexes: None) -> None:
    sweep = usage(
        cap.Touch("table", "T#shop-a#U#alice", wcu=1, call="DeleteItem"),
        cap.Touch("index expiry", "EXP#03", wcu=1, call="DeleteItem"),
        cap.Touch("index expiry", "EXP#03", rcu=0.5, call="Query", found=1),
        *(cap.Touch("index expiry", f"EXP#{n:02d}", rcu=0.5, call="Query", found=0) for n in range(95)),
    )
    previews = usage(cap.Touch("table", "T#shop-a#U#alice", wcu=1, rcu=0.5, call="UpdateItem"))
    life = cap.Life(runs=[("previews", previews), ("sweep", sweep)])
    assert (life.total("wcu", "dynamodb"), life.total("rcu", "dynamodb")) == (3, 1)  # 95 empty shards left out
    assert life.count("", "index expiry") == 1 and life.max_partition_wcu() == 1
    original = cap.Life(runs=[("sweep", usage(cap.Touch("table", PROJECT, wcu=2)))])
    both = cap.Life(
        runs=[("sweep", usage(cap.Touch("table", PROJECT, wcu=2), cap.Touch("table", PROJECT, wcu=3)))], less=[original]
    )
    assert both.total("wcu", "table") == 3 and both.max_partition_wcu() == 5
    assert cap.row(cap.Result("upload", "up", usage(), life=life), cap.Model(ARGS, 96, 1.1))["lifeWcu"] == 3
    assert cap.life_fields(None)["lifeWcu"] is None


def test_the_steady_state_weighs_unsaved_and_saved_uploads_whole_lives(indexes: None) -> None:
    upload = cap.Result(
        "upload",
        "up",
        usage(cap.Touch("table", "T#shop-a#U#alice", wcu=2), cap.Touch("index expiry", "EXP#01", wcu=1), api_calls=2),
        life=cap.Life(
            runs=[
                ("previews", usage(cap.Touch("table", "T#shop-a#U#alice", wcu=1))),
                (
                    "sweep",
                    usage(cap.Touch("table", "T#shop-a#U#alice", wcu=1), cap.Touch("index expiry", "EXP#01", wcu=1)),
                ),
            ]
        ),
    )
    # A 400-image create: 400 acquires (each takes the file out of the index), its removal 400 deletes.
    create = cap.Result(
        "project.create",
        "create",
        usage(cap.Touch("table", PROJECT, wcu=402), cap.Touch("index expiry", "EXP#02", wcu=400)),
        files=400,
        projects=1,
        life=cap.Life(runs=[("sweep", usage(cap.Touch("table", PROJECT, wcu=404)))]),
    )
    steady = cap.steady_state([upload, create], shards=96)
    assert steady is not None
    # unsaved: 2 + 1 + 1 = 4 table, 2 index; saved: 2 + 1 + (402 + 404) / 400 table, 1 + 1 index
    assert steady.table_wcu == pytest.approx(7_000 * 4 + 3_000 * (3 + 806 / 400))
    assert steady.per_second["index expiry"] == pytest.approx(10_000 * 2)
    assert steady.expiry_writes_per_upload == pytest.approx(2)
    assert steady.shard_load.shards == 96 and steady.shard_load.mean == pytest.approx(20_000 / 96)
    checks = cap.steady_targets(steady, [create], cap.Model(ARGS, 96, 1.1))
    verdicts = {t.what.split(":")[-1].strip(): t.met for t in checks}
    assert verdicts["base table <= 40,000 WCU/s"] is False  # 43,045
    assert cap.steady_state([upload], shards=96) is None  # no create measured


def test_a_comment_writes_two_units_and_a_members_poll_reads_one(indexes: None) -> None:
    """docs/collaboration.md, issue 31: a comment of up to 500 characters with a 200-character anchor is
    2 WCU (one UpdateItem of the counter item, one PutItem of the comment; neither is in an index), and a
    project META with 50 members is 1 RCU to poll: under 4 KB with 36-character user ids (a consistent
    read), under 8 KB with 64-character ones (the poll's eventually consistent read)."""
    from imagestore.data.collaboration import CollaborationStore
    from imagestore.data.table import serialize
    from imagestore.models.collaboration import MAX_MEMBERS, CommentRecord
    from imagestore.models.projects import ProjectRecord

    class Counted(_Captured):
        def __init__(self) -> None:
            super().__init__()
            self.updates: list[dict[str, Any]] = []

        def update(self, key: dict[str, str], expression: str, **kwargs: Any) -> None:
            self.updates.append({"key": key, "expression": expression, **kwargs})

    table = Counted()
    comment = CommentRecord(
        tenant_id="t" * 32,
        project_id="01m995jdr0037xje0stn2j0rej",
        comment_id="01m995jdre0qc1vx9embpcsdw1",
        author_id="u" * 64,
        text="x" * 500,
        anchor="a" * 200,
        created_at=1_796_000_000,
    )
    CollaborationStore(table, 96).add_comment(comment)  # type: ignore[arg-type]
    (item,) = table.items
    (counter,) = table.updates
    assert cap.write_units(cap.item_size(item)) == 1
    counter_item = serialize({**counter["key"], "entity": "comment_counter", "count": 10_000})
    assert cap.write_units(cap.item_size(counter_item)) == 1
    assert "gsi1pk" not in item and "xpk" not in item
    meta = ProjectRecord(
        tenant_id="t" * 32,
        user_id="u" * 64,
        project_id="01m995jdr0037xje0stn2j0rej",
        name="n" * 200,
        product_type="p" * 100,
        version=123_456,
        created_at=1_796_000_000,
        saved_at=1_796_000_000,
        expires_at=1_796_000_000,
        manifest_key="k" * 120,
        members={f"{n:064d}": "commenter" for n in range(MAX_MEMBERS)},
    )
    assert cap.read_units(cap.item_size(serialize(meta.to_item(96))), consistent=False) == 1
    typical = meta.model_copy(update={"members": {f"{n:036d}": "commenter" for n in range(MAX_MEMBERS)}})
    assert cap.read_units(cap.item_size(serialize(typical.to_item(96))), consistent=True) == 1
