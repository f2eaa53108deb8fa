"""imagestore.idempotency's request identity: the key's checks, the fingerprint, the record's key."""

from __future__ import annotations

import pytest

from imagestore import errors, keys
from imagestore.idempotency import MAX_KEY_CHARS, fingerprint, key_digest


def test_a_key_is_hashed_and_surrounding_space_does_not_count() -> None:
    assert key_digest(None) is None
    assert key_digest(" abc ") == key_digest("abc") != key_digest("abd")
    assert len(key_digest("x" * MAX_KEY_CHARS) or "") == 64


@pytest.mark.parametrize("bad", ["", " ", "x" * (MAX_KEY_CHARS + 1), "é", "a\tb"])
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(errors.BadRequest):
        key_digest(bad)


def test_json_bodies_compare_by_value_and_method_and_path_count() -> None:
    same = fingerprint("POST", "/projects", b'{"a": 1, "b": [1, 2]}')
    assert fingerprint("post", "/projects", b'{"b":[1,2],"a":1}') == same
    assert fingerprint("POST", "/projects", b'{"a": 1, "b": [2, 1]}') != same
    assert fingerprint("POST", "/cart-items", b'{"a": 1, "b": [1, 2]}') != same
    assert fingerprint("POST", "/projects", b"not json") != fingerprint("POST", "/projects", b"not  json")
    assert fingerprint("POST", "/projects", b"") == fingerprint("POST", "/projects", b"")


def test_the_record_lives_in_its_own_partition_of_the_callers_tenant_and_user() -> None:
    key = keys.idempotency_key("shop-a", "alice", "ab12")
    assert key == {"pk": "T#shop-a#U#alice#IDEM#ab12", "sk": "IDEMPOTENCY"}
    assert keys.parse_tenant_user_pk(key["pk"]) is None  # not taken for a user partition
    assert key != keys.idempotency_key("shop-a", "bob", "ab12") != keys.idempotency_key("shop-b", "alice", "ab12")
