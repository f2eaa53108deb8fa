"""Key builders of the single table."""

from __future__ import annotations

from imagestore import ids, keys


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


def test_every_document_key_names_the_item_that_references_it() -> None:
    tid, project, order, resubmission = "shop-a", ids.new_id(), ids.new_id(), ids.new_id()
    write = ids.new_id()
    assert keys.document_owner_key(keys.document_object_key(tid, project, 7, write)) == keys.project_key(tid, project)
    assert keys.document_owner_key(keys.document_object_key(tid, project, 12, write)) == keys.project_key(tid, project)
    assert keys.document_owner_key(keys.order_document_key(tid, order, project)) == {
        "pk": keys.order_pk(tid, order),
        "sk": keys.order_project_sk(project),
    }
    assert keys.document_owner_key(keys.order_manifest_key(tid, order, resubmission)) == {
        "pk": keys.order_pk(tid, order),
        "sk": keys.order_resubmission_sk(resubmission),
    }
    cart_item = ids.new_id()
    assert keys.document_owner_key(keys.cart_item_manifest_key(tid, cart_item)) == keys.cart_item_key(tid, cart_item)
    parsed = keys.parse_document_object_key(keys.document_object_key(tid, project, 12, write))
    assert parsed == (tid, project, 12, write)
    assert keys.document_object_key(tid, project, 2, ids.new_id()) != keys.document_object_key(tid, project, 2, write)
    assert keys.parse_document_object_key(keys.order_document_key(tid, order, project)) is None


def test_other_keys_name_no_document_owner() -> None:
    tid, p, o, r, w = "shop-a", ids.new_id(), ids.new_id(), ids.new_id(), ids.new_id()
    foreign = [
        f"{tid}/documents/projects/{p}/v1.json",  # no write id (the first key shape): unknown, left alone
        f"{tid}/documents/projects/{p}/v1-.json",
        f"{tid}/documents/projects/{p}/v1-w1.json",  # a write id that is not an id
        f"{tid}/documents/projects/{p}/v01-{w}.json",
        f"{tid}/documents/projects/{p}/v1-{w}-{w}.json",
        f"{tid}/documents/projects/{p}/v-{w}.json",
        f"{tid}/documents/projects/{p}/v1-{w}.json/extra",
        keys.object_key(tid, "alice", p),  # an image
        f"{tid}/documents/{p}",  # an image of a user called "documents"
        f"{tid}/documents/projects/{p}/v1.json/extra",
        f"{tid}/documents/projects/{p}/extra/v1.json",
        f"{tid}/documents/projects/{p}/vx.json",
        f"{tid}/documents/projects/{p}/v.json",
        f"{tid}/documents/projects/{p}/v01.json",
        f"{tid}/documents/projects/{p}/v-1.json",
        f"{tid}/documents/projects/{p}/v+1.json",
        f"{tid}/documents/projects/{p}/v1_0.json",
        f"{tid}/documents/projects/{p}/v\u0661.json",  # a digit, but not an ASCII one
        f"{tid}/documents/projects/{p}/1.json",
        f"{tid}/documents/projects/{p}/v1.txt",
        f"{tid}/documents/projects/{p}/v1",
        f"{tid}/documents/projects//v1.json",
        f"{tid}/documents/projects/p1/v1.json",  # not an id
        f"/documents/projects/{p}/v1.json",
        f"{tid}/documents/orders/{o}/.json",
        f"{tid}/documents/orders//{p}.json",
        f"{tid}/documents/orders/{o}/{p}",
        f"{tid}/documents/orders/{o}/{p}.json.json",
        f"{tid}/documents/orders/{o}/{p}/extra.json",
        f"{tid}/documents/orders/{o}/resubmissions/{r}.json/x",
        f"{tid}/documents/orders/{o}/resubmission/{r}.json",
        f"{tid}/documents/orders/{o}/resubmissions/.json",
        f"{tid}/documents/orders/{o}/resubmissions/{r}",
        f"{tid}/documents/orders/{o}/resubmissions/{r}.json.json",
        f"{tid}/documents/orders/{o}/resubmissions/{r}/v1.json",
        f"{tid}/documents/carts/{o}/{p}.json",
        f"{tid}/other/projects/{p}/v1.json",
        "",
        "/",
        keys.document_object_key(tid, f"{p}/{p}", 1, w),  # ids with "/" in them
        keys.document_object_key(f"{tid}/x", p, 1, w),
        keys.document_object_key(tid, p, 1, f"{w}/x"),
        keys.order_document_key(tid, o, f"{p}/x"),
        keys.order_manifest_key(tid, f"{o}/x", r),
        f"{tid}/documents/cart-items/{o}.json",
        f"{tid}/documents/cart-items/{o}.manifest.json.manifest.json",
        f"{tid}/documents/cart-items/x/{o}.manifest.json",
        f"/documents/cart-items/{o}.manifest.json",
    ]
    for key in foreign:
        assert keys.document_owner_key(key) is None, key
    assert keys.parse_document_object_key(f"{tid}/documents/projects/{p}/v01-{w}.json") is None


def test_a_digest_pointer_lives_in_its_users_partition() -> None:
    from imagestore import keys

    key = keys.file_digest_key("t1", "u1", "ab" * 32)

    assert key == {"pk": "T#t1#U#u1", "sk": "SHA256#" + "ab" * 32}
    assert keys.file_digest_key("t2", "u1", "ab" * 32)["pk"] != key["pk"]
