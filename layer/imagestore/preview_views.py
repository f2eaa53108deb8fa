"""A file's previews as the API shows them (file entries of the file and project services): each with a
short-lived URL, presigned without a request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import Field

from imagestore.bodies import ApiModel
from imagestore.keys import PREVIEW_NAMES, preview_key

if TYPE_CHECKING:
    from imagestore.data.storage import ImageBucket
    from imagestore.models.files import PreviewRef


class PreviewView(ApiModel):
    url: str = Field(description="A short-lived presigned GET of the preview (404 until it is made, while pending)")
    # The preview's size and type; absent while the previews are pending (a project's view signs the
    # URLs of previews not made yet: they answer 404 until the previews function has made them).
    width: int | None = Field(default=None, description="Its width in pixels; null while pending")
    height: int | None = Field(default=None, description="Its height in pixels; null while pending")
    content_type: str | None = Field(default=None, description="Its image type (`image/webp`); null while pending")


def preview_views(
    bucket: ImageBucket, object_key: str, previews: Mapping[str, PreviewRef], expires_in: int
) -> dict[str, PreviewView]:
    """The previews of the file stored at object_key, with URLs valid for expires_in seconds."""
    return {
        name: PreviewView(
            url=bucket.presign_download(preview_key(object_key, name), expires_in=expires_in),
            width=p.width,
            height=p.height,
            content_type=p.content_type,
        )
        for name, p in previews.items()
    }


def pending_preview_views(bucket: ImageBucket, object_key: str, expires_in: int) -> dict[str, PreviewView]:
    """The previews a file will have, signed without knowing whether they are made yet (their keys
    follow from the file's: keys.preview_key): a view shows them current without reading the file."""
    return {
        name: PreviewView(url=bucket.presign_download(preview_key(object_key, name), expires_in=expires_in))
        for name in PREVIEW_NAMES
    }
