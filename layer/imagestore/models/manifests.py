"""A project version's manifest: its document and its files, kept in S3 under a key of its own.

A manifest is written once and never changed (its key names the save that wrote it), so whatever
reads the project META and then its manifest reads one consistent version, and a save can compute
what it changes against exactly the version it replaces.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from imagestore.models.holds import FileRef


class Manifest(BaseModel):
    """One saved version of a project."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    project_id: str
    version: int
    document: Any = None
    files: tuple[FileRef, ...] = ()
    # File ids (the project owner's, or a member's: `owners`) the project itself holds once this version
    # is saved: every file of `files` not kept by the base pin, and, while the project was pinned, what
    # earlier versions used.
    held: tuple[str, ...] = ()
    # A copy's files kept by its pin on the original (the original's version it was copied from), kept
    # whole in every version so that a file dropped from the copy can be put back.
    base_files: tuple[FileRef, ...] = ()
    # What the save of this version released after its commit (a takeover of a dead save redoes it).
    released: tuple[str, ...] = ()
    # The owner of each file of `held` and `released` that is not the project owner's (a member's upload
    # a member added: docs/collaboration.md); the holds are on those files' items, in their owners' partitions.
    owners: dict[str, str] = {}

    @property
    def file_ids(self) -> tuple[str, ...]:
        return tuple(ref.file_id for ref in self.files)

    @property
    def base_file_ids(self) -> tuple[str, ...]:
        return tuple(ref.file_id for ref in self.base_files)

    @property
    def known_files(self) -> dict[str, FileRef]:
        """Every file this version can name without reading it again: its own and its base's."""
        return {ref.file_id: ref for ref in (*self.base_files, *self.files)}

    @property
    def covered(self) -> set[str]:
        """Every file id this version keeps alive: held by the project or by its base pin."""
        return {*self.held, *self.base_file_ids}

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> Manifest:
        return cls.model_validate_json(body)
