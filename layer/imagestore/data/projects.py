"""Access patterns of projects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagestore import keys
from imagestore.data.holders import HolderPartition, read_partition
from imagestore.data.pagination import Page, newest_first_in_gsi1
from imagestore.data.table import Table
from imagestore.errors import ConditionFailed, PreconditionFailed
from imagestore.models.holds import FileRef
from imagestore.models.projects import ProjectRecord, ProjectStatus


@dataclass
class ProjectPartition:
    """Everything in a project's partition, read with one Query; `holder` is what removing it takes."""

    project: ProjectRecord | None
    holder: HolderPartition

    @property
    def links(self) -> list[FileRef]:
        return self.holder.links

    @property
    def share_items(self) -> list[dict[str, Any]]:
        return [i for i in self.holder.others if i["sk"].startswith(keys.SHARE_PREFIX)]


class ProjectStore:
    """Projects of the single table."""

    def __init__(self, table: Table, expiry_shards: int) -> None:
        self.table = table
        self.expiry_shards = expiry_shards

    def load_project(self, tenant_id: str, project_id: str) -> ProjectPartition:
        """META, hold links and shares of a project: one Query (a page per MB), however many files."""
        holder = read_partition(self.table, keys.project_pk(tenant_id, project_id))
        return ProjectPartition(project=ProjectRecord.from_item(holder.meta) if holder.meta else None, holder=holder)

    def add_project(self, record: ProjectRecord) -> None:
        self.table.put(record.to_item(self.expiry_shards), condition="attribute_not_exists(pk)")

    def replace_project(self, record: ProjectRecord, expected_version: int) -> None:
        """Write the next version, if the stored one is still expected_version (else 412)."""
        try:
            self.table.put(
                record.to_item(self.expiry_shards),
                condition="version = :expected AND #status = :active",
                names={"#status": "status"},
                values={":expected": expected_version, ":active": ProjectStatus.ACTIVE.value},
            )
        except ConditionFailed:
            raise PreconditionFailed(
                f"project {record.project_id} is no longer at version {expected_version}"
            ) from None

    def extend_project(self, record: ProjectRecord, expires_at: int) -> None:
        """Push the project's expiry forward (a load counts as use); lost races are harmless."""
        entry = record.model_copy(update={"expires_at": expires_at}).to_item(self.expiry_shards)
        try:
            self.table.update(
                record.key, "SET expiresAt = :e, xpk = :xpk, xsk = :xsk, #ttl = :ttl",
                condition="version = :v AND #status = :active",
                names={"#ttl": "ttl", "#status": "status"},
                values={":e": expires_at, ":xpk": entry["xpk"], ":xsk": entry["xsk"], ":ttl": entry["ttl"],
                        ":v": record.version, ":active": ProjectStatus.ACTIVE.value},
                return_new=False,
            )
        except ConditionFailed:
            return

    def list_projects(self, tenant_id: str, user_id: str, *, limit: int, cursor: str | None) -> Page:
        """The user's projects, most recently saved first (index gsi1)."""
        items, next_cursor = newest_first_in_gsi1(self.table, keys.projects_of_user(tenant_id, user_id),
                                                  keys.project_pk(tenant_id, ""), limit=limit, cursor=cursor)
        return Page(items=[ProjectRecord.from_item(i) for i in items], next_cursor=next_cursor)
