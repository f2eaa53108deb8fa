"""The image bucket makes its S3 client only when it is first used (cold start)."""

from __future__ import annotations

from typing import Any

import boto3

from imagestore.data.storage import ImageBucket


def test_the_client_is_made_once_and_only_when_the_bucket_is_used() -> None:
    made: list[Any] = []

    def make_client() -> Any:
        client = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
        made.append(client)
        return client

    bucket = ImageBucket(make_client, "images")
    assert made == [], "building the bucket makes no client"
    first = bucket.presign_download("t1/u1/f1", expires_in=60, filename='a".jpg')
    second = bucket.presign_download("t1/u1/f2", expires_in=60)
    assert len(made) == 1 and bucket.client is made[0]
    assert "/images/t1/u1/f1" in first or "images.s3" in first
    assert "filename%3D%22a.jpg%22" in first and "t1/u1/f2" in second


def test_a_client_given_as_it_is_is_used_as_it_is() -> None:
    client = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    assert ImageBucket(client, "images").client is client
