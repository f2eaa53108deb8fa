"""Fixtures shared by the service tests: moto backends built from the services' own definitions."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.cfn import create_bucket, create_table

REGION = "eu-west-1"
TABLE = "imagestore-test"
BUCKET = "imagestore-test-images"
JWT_SECRET = "test-secret-of-at-least-32-bytes-long!"

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "IMAGESTORE_TABLE_NAME": TABLE,
    "IMAGESTORE_BUCKET_NAME": BUCKET,
    "IMAGESTORE_JWT_SECRET": JWT_SECRET,
    "IMAGESTORE_JWT_ISSUER": "imagestore-local",
    "IMAGESTORE_JWT_AUDIENCE": "imagestore",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "imagestore-test",
    "POWERTOOLS_SERVICE_NAME": "test",
}

# A handler module makes its Powertools Metrics once per process, when it is first imported
# (imagestore.observability), reading the namespace from the environment then. Tests that import handler
# modules without the `env` fixture (the OpenAPI generator reads their resolvers) must not leave a
# namespace-less Metrics behind for the tests that invoke them later in the same worker.
for _name in ("POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME"):
    os.environ.setdefault(_name, TEST_ENV[_name])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process environment a deployed function would see (and nothing pointing at real AWS)."""
    for name in [n for n in os.environ if n.startswith(("AWS_ENDPOINT_URL", "IMAGESTORE_"))]:
        monkeypatch.delenv(name)
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    from imagestore.data import factory

    factory.reset()
    yield
    factory.reset()


@dataclass
class RequestCounter:
    """Counts the AWS API calls made through the layer's clients (service.operation -> n)."""

    calls: Counter[str] = field(default_factory=Counter)

    def __call__(self, event_name: str, **_: Any) -> None:
        # event_name: before-call.<service>.<Operation>
        _, service, operation = event_name.split(".", 2)
        self.calls[f"{service}.{operation}"] += 1

    def reset(self) -> None:
        self.calls.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass
class Aws:
    dynamodb: Any
    s3: Any
    requests: RequestCounter

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        from imagestore.data.table import deserialize

        raw = self.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        return deserialize(raw) if raw else None

    def object_exists(self, key: str) -> bool:
        return self.s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount", 0) > 0


@pytest.fixture
def aws(env: None) -> Iterator[Aws]:
    """moto DynamoDB and S3 with the table and bucket of services/file/serverless.yml."""
    from moto import mock_aws

    from imagestore.data.clients import dynamodb_client, s3_client
    from tests.support import moto_transactions

    moto_transactions.install()
    with mock_aws():
        ddb, s3 = dynamodb_client(), s3_client()
        create_table(ddb, TABLE)
        create_bucket(s3, BUCKET, REGION)
        counter = RequestCounter()
        for client in (ddb, s3):
            client.meta.events.register("before-call.*.*", counter)
        yield Aws(dynamodb=ddb, s3=s3, requests=counter)
