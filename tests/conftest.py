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


# One counter for the whole worker: it is registered once on each reused DynamoDB and S3 client (below) and
# emptied at the start of every test that uses `aws`.
_REQUESTS = RequestCounter()
# The layer's boto3 clients, reused across tests while the environment they were made in is the same
# (a test that changes credentials or an endpoint gets new ones). Making a client costs a fraction of a
# second on a busy machine, and most service tests make two.
_CLIENTS: dict[tuple[str, ...], Any] = {}
_MAKE_CLIENT: list[Any] = []  # imagestore.data.clients' own maker (its uncached _client), kept on first use


_SESSIONS: dict[tuple[str, ...], Any] = {}  # boto3's default session of each environment (it keeps credentials)


def _session_of_this_environment() -> tuple[str, ...]:
    """Make boto3's default session the one of the current AWS_* environment (a session resolves its
    credentials once, so each environment has a session of its own); the environment."""
    import boto3

    environment = tuple(sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("AWS_")))
    if environment not in _SESSIONS:
        _SESSIONS[environment] = boto3.Session()
    boto3.DEFAULT_SESSION = _SESSIONS[environment]
    return environment


def _reused_client(service: str) -> Any:
    (make,) = _MAKE_CLIENT
    made_in = (service, *_session_of_this_environment())
    if made_in not in _CLIENTS:
        client = make(service)
        if service in ("dynamodb", "s3"):  # what aws.requests counts
            client.meta.events.register("before-call.*.*", _REQUESTS, unique_id="imagestore-test-requests")
        _CLIENTS[made_in] = client
    return _CLIENTS[made_in]


_reused_client.cache_clear = lambda: None  # type: ignore[attr-defined]  # reset_clients(): a new env is a new key


@pytest.fixture
def aws(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto DynamoDB and S3 with the table and bucket of services/file/serverless.yml.

    Every test starts from empty backends (mock_aws resets them all); what is kept between tests is
    boto3's default session (its loaded service models) and the layer's clients."""
    import boto3
    from moto import mock_aws

    from imagestore.data import clients
    from imagestore.data.clients import dynamodb_client, s3_client
    from tests.support import moto_transactions

    moto_transactions.install()
    if not _MAKE_CLIENT:
        _MAKE_CLIENT.append(clients._client.__wrapped__)
    monkeypatch.setattr(clients, "_client", _reused_client)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3.DEFAULT_SESSION)  # as it was, after the test
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        _session_of_this_environment()
        ddb, s3 = dynamodb_client(), s3_client()
        create_table(ddb, TABLE)
        create_bucket(s3, BUCKET, REGION)
        _REQUESTS.reset()
        yield Aws(dynamodb=ddb, s3=s3, requests=_REQUESTS)
