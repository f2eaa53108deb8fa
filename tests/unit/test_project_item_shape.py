"""One statement of the project item's shape: ProjectRecord.to_item. Every field of the model is in the
item, and a save (ProjectStore._commit_expression) writes every attribute of it except the ones
NOT_SAVED names, so a field added to the model and its item is saved by PUT without a second list."""

from __future__ import annotations

import re
from typing import Any

import pytest

from imagestore.data.projects import RELEASE, ProjectStore, _expiry_ttl
from imagestore.models.projects import NOT_SAVED, NOT_SAVED_PREFIXES, ProjectLock, ProjectRecord, ProjectStatus

SHARDS = 4

# Fields no save changes, with the write that does (a new field belongs here only if that is true).
WRITTEN_ELSEWHERE = {
    "tenant_id": "create",
    "user_id": "create",
    "project_id": "create",
    "created_at": "create",
    "base_project_id": "create (a copy)",
    "status": "create, mark_deleted, remove",
    "pin_count": "pin_operations, unpin",
    "lock": "_lock, _unlock",
    "lock_epoch": "_lock",
    "members": "accept, change_role, remove_member (imagestore.data.collaboration)",
    "taken_over": "_lock and remove, when they take a lock over",
    "preview_failed": "ADD by the previews function and by a create or save whose acquire found a failed file",
}

BASE = ProjectRecord(
    tenant_id="t1",
    user_id="u1",
    project_id="p1",
    name="Book",
    product_type="photobook",
    version=3,
    created_at=100,
    saved_at=200,
    expires_at=300,
    manifest_key="m/3",
    file_count=2,
)

# A different value for every field of the model (a new field without one here fails the test below).
CHANGED: dict[str, Any] = {
    "tenant_id": "t2",
    "user_id": "u2",
    "project_id": "p2",
    "name": "Calendar",
    "product_type": "calendar",
    "version": 4,
    "created_at": 101,
    "saved_at": 201,
    "expires_at": 301,
    "status": ProjectStatus.DELETING,
    "manifest_key": "m/4",
    "file_count": 3,
    "pin_count": 1,
    "lock_epoch": 7,
    "base_project_id": "p0",
    "lock": ProjectLock(lock_id="l1", epoch=7, until=400, manifest_key="m/5", phase="acquire"),
    "members": {"u9": "editor"},
    "taken_over": True,
    "preview_failed": frozenset({"f1"}),
}


def store() -> ProjectStore:
    return ProjectStore(table=None, holds=None, bucket=None, expiry_shards=SHARDS)  # type: ignore[arg-type]


def set_attributes(expression: str, names: dict[str, str]) -> set[str]:
    """The attribute names an UpdateExpression's SET clause writes."""
    clause = expression.split("SET ", 1)[1].split(" REMOVE ", 1)[0]
    return {names.get(target, target) for target in re.findall(r"([#\w]+) = ", clause)}


def test_every_model_field_has_a_value_to_change() -> None:
    assert set(CHANGED) == set(ProjectRecord.model_fields)


@pytest.mark.parametrize("field", sorted(ProjectRecord.model_fields))
def test_every_model_field_is_written_by_a_save_or_by_the_write_that_owns_it(field: str) -> None:
    changed = BASE.model_copy(update={field: CHANGED[field]})
    before, after = BASE.to_item(SHARDS), changed.to_item(SHARDS)
    attributes = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    assert attributes, f"ProjectRecord.{field} is not in the item (ProjectRecord.to_item): it is never written"
    saved = set_attributes(
        store()._commit_expression(changed, _expiry_ttl(changed.expires_at, pinned=False)),
        {**store()._commit_names(changed), "#ttl": "ttl"},
    )
    # What a save leaves alone is only ever what NOT_SAVED names (a new attribute is saved by default).
    assert all(name in NOT_SAVED or name.startswith(tuple(NOT_SAVED_PREFIXES)) for name in attributes - saved)
    if field in WRITTEN_ELSEWHERE:
        assert attributes - saved, f"{field} is written by {WRITTEN_ELSEWHERE[field]}, not by a save"
    else:
        assert attributes & saved, f"a save writes none of {sorted(attributes)} (ProjectRecord.{field})"


@pytest.mark.parametrize("pinned", [False, True])
@pytest.mark.parametrize("lock_phase", [None, RELEASE])
def test_the_save_writes_the_item_but_what_it_leaves_alone(pinned: bool, lock_phase: str | None) -> None:
    ttl = _expiry_ttl(BASE.expires_at, pinned=pinned)
    expression = store()._commit_expression(BASE, ttl, lock_phase=lock_phase)
    names = {**store()._commit_names(BASE), "#ttl": "ttl"}
    values = store()._commit_values(BASE)
    item = BASE.to_item(SHARDS)
    expected = {name for name in item if name not in NOT_SAVED}
    assert expected == {"name", "productType", "version", "savedAt", "expiresAt", "fileCount", "manifestKey", "gsi1sk"}
    written = set_attributes(expression, names) - {"ttl", "lockPhase"}
    assert written == expected
    assert {names[f"#s_{name}"]: values[f":s_{name}"] for name in expected} == {name: item[name] for name in expected}
    assert ("ttl" in set_attributes(expression, names)) is not pinned
    assert ("REMOVE" in expression and "lockId" in expression) is (lock_phase is None)


def test_not_saved_names_only_attributes_of_the_item() -> None:
    locked = BASE.model_copy(
        update={
            "lock": CHANGED["lock"],
            "base_project_id": "p0",
            "status": ProjectStatus.ACTIVE,
            "taken_over": True,
            "preview_failed": frozenset({"f1"}),
        }
    )
    item = locked.to_item(SHARDS, due_at=500)
    assert set(NOT_SAVED) <= set(item) | {"lockManifestKey"}
