"""Available files put straight into the stores (for tests whose subject is not the upload)."""

from __future__ import annotations

import time
from typing import Any

from imagestore import ids
from imagestore.auth import Principal
from imagestore.data import factory
from imagestore.models.files import FileRecord, FileStatus, PreviewRef, PreviewStatus
from tests.support.images import jpeg

# As the previews function leaves a 64 x 48 file (the previews' objects themselves are not written).
PREVIEWS_MADE: dict[str, Any] = {
    "preview_status": PreviewStatus.READY,
    "previews": {name: PreviewRef(width=64, height=48, content_type="image/jpeg") for name in ("thumb", "screen")},
}


def stored_file(
    principal: Principal, data: bytes | None = None, *, retention_seconds: int = 6 * 3600, now: int | None = None
) -> FileRecord:
    """An available file of principal's, its bytes in the bucket and its item in the table."""
    data = data or jpeg()
    now = now or int(time.time())
    record = FileRecord(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        file_id=ids.new_id(),
        session_id=principal.session_id,
        filename="photo.jpg",
        content_type="image/jpeg",
        size_bytes=len(data),
        status=FileStatus.AVAILABLE,
        created_at=now,
        completed_at=now,
        expires_at=now + retention_seconds,
        width=64,
        height=48,
        **PREVIEWS_MADE,
    )
    bucket = factory.image_bucket()
    bucket.client.put_object(Bucket=bucket.name, Key=record.object_key, Body=data, ContentType="image/jpeg")
    factory.file_store().add_pending_file(record)
    return record


def stored_files(
    principal: Principal,
    count: int,
    *,
    retention_seconds: int = 6 * 3600,
    filename: str | None = None,
    now: int | None = None,
    previews_made: bool = True,
) -> list[FileRecord]:
    """count available file items of principal's, written with BatchWriteItem (25 a call); with
    previews_made=False as completed before the previews function ran.

    Their objects are not uploaded: for tests about what holds and loads files, not their bytes.
    """
    now = now or int(time.time())
    records = [
        FileRecord(
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            file_id=ids.new_id(),
            session_id=principal.session_id,
            filename=filename or f"photo-{n}.jpg",
            content_type="image/jpeg",
            size_bytes=1000 + n,
            status=FileStatus.AVAILABLE,
            created_at=now,
            completed_at=now,
            expires_at=now + retention_seconds,
            width=64,
            height=48,
            **(PREVIEWS_MADE if previews_made else {}),
        )
        for n in range(count)
    ]
    store = factory.file_store()
    store.table.batch_write(puts=[r.to_item(store.expiry_shards) for r in records])
    return records
