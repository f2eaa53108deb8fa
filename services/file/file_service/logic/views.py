"""A file as the API shows it: short-lived URLs of its bytes and of its previews."""

from __future__ import annotations

from file_service.models import FileView
from imagestore.config import TenantSettings
from imagestore.data.storage import ImageBucket
from imagestore.models.files import FileRecord, FileStatus, PreviewStatus
from imagestore.preview_views import preview_views


def view(record: FileRecord, bucket: ImageBucket, tenant: TenantSettings) -> FileView:
    """A file as the API shows it, with a short-lived download URL once it is available, and its
    previews' URLs once they are ready."""
    url = None
    previews = None
    if record.status is FileStatus.AVAILABLE:
        url = bucket.presign_download(
            record.object_key,
            expires_in=tenant.download_url_seconds,
            content_type=record.content_type,
            filename=record.filename,
        )
        if record.preview_status is PreviewStatus.READY:
            previews = preview_views(bucket, record.object_key, record.previews, tenant.download_url_seconds)
    return FileView.of(record, url, previews)
