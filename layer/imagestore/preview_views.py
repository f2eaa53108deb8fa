"""A file's previews as the API shows them (file entries of the file and project services): each with a
short-lived URL, presigned without a request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from imagestore.bodies import ApiModel
from imagestore.keys import preview_key

if TYPE_CHECKING:
    from imagestore.data.storage import ImageBucket
    from imagestore.models.files import PreviewRef


class PreviewView(ApiModel):
    url: str
    width: int
    height: int
    content_type: str


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
