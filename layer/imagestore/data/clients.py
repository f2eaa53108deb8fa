"""boto3 clients, created on first use and reused for the life of the execution environment."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client


def _config() -> Any:
    from botocore.config import Config

    return Config(
        retries={"mode": "adaptive", "max_attempts": 5},
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=50,
        signature_version="s3v4",
    )


@lru_cache(maxsize=1)
def dynamodb_client() -> DynamoDBClient:
    import boto3

    return boto3.client("dynamodb", config=_config())


@lru_cache(maxsize=1)
def s3_client() -> S3Client:
    import boto3

    return boto3.client("s3", config=_config())


@lru_cache(maxsize=1)
def events_client() -> Any:
    import boto3

    # Its endpoint, like every client's, may come from the standard AWS_ENDPOINT_URL_EVENTBRIDGE
    # (named after EventBridge's service id), which the local stack sets.
    return boto3.client("events", config=_config())


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints between runs)."""
    dynamodb_client.cache_clear()
    s3_client.cache_clear()
    events_client.cache_clear()
