"""Key builders of the single table."""

from __future__ import annotations

from imagestore import keys


def test_every_user_key_starts_with_the_tenant() -> None:
    assert keys.file_key("shop-a", "alice", "f1") == {"pk": "T#shop-a#U#alice", "sk": "FILE#f1"}
    assert keys.object_key("shop-a", "alice", "f1") == "shop-a/alice/f1"


def test_object_keys_parse_back_and_foreign_keys_do_not() -> None:
    assert keys.parse_object_key("shop-a/alice/f1") == ("shop-a", "alice", "f1")
    assert keys.parse_object_key("other/thing") is None
    assert keys.parse_object_key("a//c") is None


def test_expiry_shard_is_stable_and_spread() -> None:
    shard = keys.expiry_shard("T#a#U#b", "FILE#1", 32)
    assert shard == keys.expiry_shard("T#a#U#b", "FILE#1", 32)
    shards = {keys.expiry_shard("T#a#U#b", f"FILE#{i}", 32) for i in range(2000)}
    assert len(shards) == 32
    assert all(s.startswith("EXP#") for s in shards)


def test_expiry_sort_orders_by_time_and_the_bound_includes_exactly_what_is_due() -> None:
    due = keys.expiry_sort(1_000, "pk", "sk")
    later = keys.expiry_sort(1_001, "pk", "sk")
    assert due < keys.expiry_upper_bound(1_000) <= later
    assert keys.expiry_sort(99, "p", "s") < keys.expiry_sort(1_000, "p", "s")
