"""The preview function's rule: once a file's verified bytes are at its object key, make its previews
(imagestore.previews) and record them on the file. Invariant 5: this is the one place that reads a
whole image."""

from __future__ import annotations

from collections.abc import Callable

from imagestore import clock, keys, webhook_events
from imagestore.config import TenantSettings
from imagestore.data.files import FileStore
from imagestore.data.storage import ImageBucket
from imagestore.models.files import FileStatus, PreviewRef, PreviewStatus
from imagestore.observability import logger
from imagestore.previews import PreviewError, render_previews


def make_previews(
    key: str,
    files: FileStore,
    bucket: ImageBucket,
    tenant_of: Callable[[str], TenantSettings],
) -> str:
    """Previews of the file whose bytes were just written at `key`; the outcome as a word.

    Idempotent (S3 may deliver an event twice; a retry after a crash starts over): a file whose
    previews are ready is left alone. An image that cannot be made into previews is marked failed
    (retrying would not help); anything else (S3 or DynamoDB unavailable, out of memory) raises, and
    the invocation is retried, then goes to the dead-letter queue. The tenant's `file.ready` webhook
    event is written with the previews, in one transaction (the event log is the outbox)."""
    if keys.object_key_of_staging(key) is not None or keys.object_key_of_preview(key) is not None:
        return "ignored"
    parsed = keys.parse_object_key(key)
    if parsed is None:
        return "ignored"  # documents, manifests, anything that is no image
    tenant_id, user_id, file_id = parsed
    record = files.get_file(tenant_id, user_id, file_id)
    if record is None or record.status is not FileStatus.AVAILABLE or record.object_key != key:
        return "ignored"  # gone, being deleted, or not verified yet (the completion's copy comes later)
    if record.preview_status is PreviewStatus.READY:
        return "ready"
    data = bucket.read(key)
    if data is None:
        return "gone"
    now = int(clock.now_epoch())
    try:
        rendered = render_previews(data, max_pixels=tenant_of(tenant_id).max_pixels)
    except PreviewError as exc:
        logger.warning("previews failed", file_id=file_id, reason=str(exc))
        files.mark_previews_failed(record, str(exc))
        return "failed"
    del data
    for preview in rendered.previews:
        bucket.put_preview(keys.preview_key(key, preview.name), preview.data, preview.content_type)
    recorded = files.record_previews(
        record,
        width=rendered.width,
        height=rendered.height,
        taken_at=rendered.taken_at,
        previews={
            p.name: PreviewRef(width=p.width, height=p.height, content_type=p.content_type) for p in rendered.previews
        },
        events=[webhook_events.file_ready(tenant_id, user_id, file_id, now)],
        at=now,
    )
    if not recorded:
        # The file was deleted (or marked for deletion) meanwhile: its previews go too.
        bucket.delete_objects([keys.preview_key(key, p.name) for p in rendered.previews])
        return "gone"
    logger.info(
        "previews made",
        file_id=file_id,
        width=rendered.width,
        height=rendered.height,
        sizes={p.name: [p.width, p.height] for p in rendered.previews},
    )
    return "ready"
