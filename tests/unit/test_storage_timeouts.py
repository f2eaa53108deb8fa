"""A large copy or multipart join that S3 does not answer in time is a retryable 503, not a 500."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from imagestore.data.storage import ImageBucket, UploadedPart
from imagestore.errors import Unavailable


class SlowS3:
    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            raise ReadTimeoutError(endpoint_url=f"http://s3.local/{name}")

        return call


def test_a_copy_or_join_without_an_answer_in_time_is_unavailable() -> None:
    bucket = ImageBucket(SlowS3(), "images")  # type: ignore[arg-type]
    with pytest.raises(Unavailable, match="did not answer the copy in time") as copy:
        bucket.copy_if_unchanged("t/u/f.upload", "t/u/f", '"e"')
    assert copy.value.retryable
    with pytest.raises(Unavailable, match="join of the parts"):
        bucket.complete_multipart("t/u/f.upload", "up-1", [UploadedPart(part_number=1, size_bytes=5, etag="e")])
