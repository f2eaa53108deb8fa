"""The table and the image bucket make their clients only when first used (cold start)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from imagestore.data.storage import ImageBucket
from imagestore.data.table import Table


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
    assert "filename%3D%22a_.jpg%22" in first and "t1/u1/f2" in second


def test_a_client_given_as_it_is_is_used_as_it_is() -> None:
    client = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    assert ImageBucket(client, "images").client is client


def test_the_table_makes_its_client_on_first_use_and_maps_its_errors() -> None:
    from botocore.stub import Stubber

    from imagestore.errors import Throttled

    client = boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    made: list[Any] = []
    table = Table(lambda: made.append(client) or client, "imagestore-unit")
    assert made == []
    with Stubber(client) as stub:
        stub.add_response(
            "get_item",
            {"Item": {"pk": {"S": "T#t1"}, "sk": {"S": "META"}, "n": {"N": "2"}}},
            {"TableName": "imagestore-unit", "Key": {"pk": {"S": "T#t1"}, "sk": {"S": "META"}}, "ConsistentRead": True},
        )
        stub.add_client_error("get_item", service_error_code="ThrottlingException")
        assert table.get({"pk": "T#t1", "sk": "META"}) == {"pk": "T#t1", "sk": "META", "n": 2}
        with pytest.raises(Throttled):
            table.get({"pk": "T#t1", "sk": "META"})
    assert made == [client]


def test_threads_asking_for_a_client_at_once_share_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from imagestore.data import clients

    environment = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    clients.reset_clients()
    try:
        with ThreadPoolExecutor(16) as pool:
            made = list(pool.map(lambda _: clients.dynamodb_client(), range(64)))
        assert len({id(client) for client in made}) == 1
        assert clients.s3_client() is clients.s3_client() and clients.s3_client() is not made[0]
    finally:
        clients.reset_clients()


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        ("photo.jpg", "attachment; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg"),
        (
            "Crème brûlée.jpg",
            "attachment; filename=\"Creme brulee.jpg\"; filename*=UTF-8''Cr%C3%A8me%20br%C3%BBl%C3%A9e.jpg",
        ),
        ("写真.jpg", "attachment; filename=\"download.jpg\"; filename*=UTF-8''%E5%86%99%E7%9C%9F.jpg"),
        ("😀", "attachment; filename=\"download\"; filename*=UTF-8''%F0%9F%98%80"),
        ('a"b\\c%.jpg', "attachment; filename=\"a_b_c_.jpg\"; filename*=UTF-8''a%22b%5Cc%25.jpg"),
    ],
)
def test_content_disposition_is_rfc_6266_with_an_ascii_fallback(filename: str, header: str) -> None:
    from imagestore.data.storage import content_disposition

    assert content_disposition(filename) == header
    assert header.isascii()
