"""boto3 clients, created on first use and reused for the life of the execution environment.

Created under one lock: the table and the bucket make their client when first used, which may be
in several threads at once (the sweep's readers), and creating clients from boto3's default session
in several threads at once is not safe (boto3 issue 1592); the lock also keeps it to one client each.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

_CREATING = threading.Lock()


def _config() -> Any:
    from botocore.config import Config

    return Config(
        retries={"mode": "adaptive", "max_attempts": 5},
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=50,
        signature_version="s3v4",
    )


@cache
def _client(service: str) -> Any:
    import boto3

    return boto3.client(service, config=_config())  # type: ignore[call-overload]


def _shared(service: str) -> Any:
    with _CREATING:
        return _client(service)


def dynamodb_client() -> DynamoDBClient:
    return _shared("dynamodb")  # type: ignore[no-any-return]


def s3_client() -> S3Client:
    return _shared("s3")  # type: ignore[no-any-return]


def events_client() -> Any:
    # Its endpoint, like every client's, may come from the standard AWS_ENDPOINT_URL_EVENTBRIDGE
    # (named after EventBridge's service id), which the local stack sets.
    return _shared("events")


def sqs_client() -> Any:
    # The webhook queue; the local stack answers at AWS_ENDPOINT_URL_SQS.
    return _shared("sqs")


def lambda_client() -> Any:
    # The sweep invokes itself (fan-out); the local stack answers Invoke at AWS_ENDPOINT_URL_LAMBDA.
    return _shared("lambda")


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints between runs)."""
    _client.cache_clear()
