"""A file as the API shows it: short-lived URLs of its bytes and of its previews."""

from __future__ import annotations

from file_service.models import FileView, PreviewView
from imagestore.config import TenantSettings
from imagestore.data.storage import ImageBucket
from imagestore.keys import preview_key
from imagestore.models.files import FileRecord, FileStatus, PreviewStatus


def view(record: FileRecord, bucket: ImageBucket, tenant: TenantSettings) -> FileView:
    """A file as the API shows it, with a short-lived download URL once it is available, and its
    previews' URLs once they are ready."""
    url = None
    previews = None
    if record.status is FileStatus.AVAILABLE:
        url = bucket.presign_download(record.object_key, expires_in=tenant.download_url_seconds,
                                      filename=record.filename)
        if record.preview_status is PreviewStatus.READY:
            previews = {name: PreviewView(
                url=bucket.presign_download(preview_key(record.object_key, name),
                                            expires_in=tenant.download_url_seconds),
                width=p.width, height=p.height, content_type=p.content_type)
                for name, p in record.previews.items()}
    return FileView.of(record, url, previews)
