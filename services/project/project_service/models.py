"""Request and response bodies of the Project API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from imagestore.api import ApiModel
from imagestore.clock import from_epoch, iso
from imagestore.models.holds import FileRef
from imagestore.models.projects import ProjectRecord

MAX_FILES_PER_PROJECT = 2000


class ProjectInput(ApiModel):
    name: str = Field(min_length=1, max_length=200)
    product_type: str = Field(min_length=1, max_length=100)
    document: Any = Field(default_factory=dict)
    file_ids: list[str] = Field(default_factory=list, max_length=MAX_FILES_PER_PROJECT)

    @field_validator("file_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class ProjectFileView(ApiModel):
    file_id: str
    filename: str
    content_type: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    download_url: str

    @classmethod
    def of(cls, ref: FileRef, download_url: str) -> ProjectFileView:
        return cls(file_id=ref.file_id, filename=ref.filename, content_type=ref.content_type,
                   size_bytes=ref.size_bytes, width=ref.width, height=ref.height, download_url=download_url)


class ProjectSummary(ApiModel):
    project_id: str
    name: str
    product_type: str
    version: int
    created_at: str
    saved_at: str
    expires_at: str
    file_count: int

    @classmethod
    def of(cls, record: ProjectRecord) -> ProjectSummary:
        return cls(project_id=record.project_id, name=record.name, product_type=record.product_type,
                   version=record.version, created_at=iso(from_epoch(record.created_at)),
                   saved_at=iso(from_epoch(record.saved_at)), expires_at=iso(from_epoch(record.expires_at)),
                   file_count=len(record.file_ids))


class ProjectView(ProjectSummary):
    document: Any
    files: list[ProjectFileView]


class ProjectPage(ApiModel):
    items: list[ProjectSummary]
    next_cursor: str | None


class ShareInput(ApiModel):
    mode: Literal["view", "copy"]
    expires_in_days: int = Field(default=7, gt=0)


class ShareCreated(ApiModel):
    share_id: str
    token: str
    url: str
    mode: str
    expires_at: str


class SharedProjectView(ApiModel):
    share_id: str
    mode: str
    expires_at: str
    project: ProjectView
