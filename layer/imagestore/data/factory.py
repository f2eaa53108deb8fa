"""The data-access objects of this execution environment, built on first use from the settings."""

from __future__ import annotations

from functools import lru_cache

from imagestore.config import get_settings
from imagestore.data.clients import dynamodb_client, s3_client
from imagestore.data.files import FileStore
from imagestore.data.holders import HolderStore
from imagestore.data.holds import HoldStore
from imagestore.data.mobile_uploads import MobileUploadStore
from imagestore.data.projects import ProjectStore
from imagestore.data.storage import ImageBucket
from imagestore.data.table import Table


@lru_cache(maxsize=1)
def table() -> Table:
    return Table(dynamodb_client(), get_settings().table_name)


@lru_cache(maxsize=1)
def image_bucket() -> ImageBucket:
    return ImageBucket(s3_client(), get_settings().bucket_name)


@lru_cache(maxsize=1)
def file_store() -> FileStore:
    return FileStore(table(), get_settings().expiry_shards)


def reset() -> None:
    """Forget everything built (tests point the process at a new backend)."""
    from imagestore.config import get_settings as settings
    from imagestore.data.clients import reset_clients

    for cached in (table, image_bucket, file_store, hold_store, holder_store, project_store, mobile_upload_store,
                   settings):
        cached.cache_clear()
    reset_clients()


@lru_cache(maxsize=1)
def hold_store() -> HoldStore:
    return HoldStore(table(), get_settings().expiry_shards)


@lru_cache(maxsize=1)
def project_store() -> ProjectStore:
    return ProjectStore(table(), get_settings().expiry_shards)


@lru_cache(maxsize=1)
def mobile_upload_store() -> MobileUploadStore:
    return MobileUploadStore(table(), get_settings().expiry_shards)


@lru_cache(maxsize=1)
def holder_store() -> HolderStore:
    return HolderStore(table(), hold_store(), image_bucket())
