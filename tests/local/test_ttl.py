"""The local stack's TTL emulation (imagestore_local.ttl) against moto: which items go, the stream
records the ttlStream function gets (the end-to-end run is in test_scheduler_e2e.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from imagestore_local.config_loader import FunctionDef, Project
from imagestore_local.ttl import StreamTarget, TtlReaper, removal_record, stream_targets, ttl_table
from tests.support.cfn import create_table, resources_of_type

ROOT = Path(__file__).resolve().parents[2]
TABLE = "imagestore-local"
NOW = 1_800_000_000


@pytest.fixture
def ttl_stream(clean_env: None) -> FunctionDef:
    return Project(ROOT, stage="local").service("scheduler").functions["ttlStream"]


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
        create_table(client, TABLE)
        yield client


def table_settings() -> Any:
    ((_, table),) = resources_of_type("file", "AWS::DynamoDB::Table").items()
    return ttl_table(TABLE, table["Properties"])


def put(client: Any, sk: str, ttl: int | None) -> dict[str, Any]:
    item = {"pk": {"S": "T#t1#U#u1"}, "sk": {"S": sk}, "entity": {"S": "other"}}
    if ttl is not None:
        item["ttl"] = {"N": str(ttl)}
    client.put_item(TableName=TABLE, Item=item)
    return item


def reaper(client: Any, targets: list[StreamTarget]) -> tuple[TtlReaper, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []

    def invoke(fn: FunctionDef, event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        return {"items": len(event["Records"])}

    return TtlReaper(client, [table_settings()], targets, invoke, "eu-west-1", now=lambda: NOW), events


def test_the_table_of_the_file_service_has_ttl_on_ttl_and_an_old_image_stream() -> None:
    settings = table_settings()
    assert (settings.attribute, settings.key_names, settings.stream_view) == ("ttl", ("pk", "sk"), "OLD_IMAGE")


def test_the_ttl_stream_function_reads_the_table_stream_and_only_ttl_removals(ttl_stream: FunctionDef) -> None:
    (target,) = stream_targets(ttl_stream)
    assert (target.table, target.batch_size) == (TABLE, 100)
    record = removal_record(table_settings(), {"pk": {"S": "a"}, "sk": {"S": "b"}}, target.arn, "eu-west-1", NOW)
    assert target.wants(record)
    assert not target.wants({**record, "userIdentity": None}), "an application's delete is not TTL's"
    assert not target.wants({**record, "eventName": "MODIFY"})


def test_expired_items_go_and_their_records_reach_the_function(dynamodb: Any, ttl_stream: FunctionDef) -> None:
    expired = put(dynamodb, "FILE#1", NOW - 1)
    put(dynamodb, "FILE#2", NOW + 60)
    put(dynamodb, "FILE#3", None)
    run, events = reaper(dynamodb, stream_targets(ttl_stream))

    report = run.run_once()

    assert report["deleted"] == {TABLE: 1}
    remaining = {i["sk"]["S"] for i in dynamodb.scan(TableName=TABLE)["Items"]}
    assert remaining == {"FILE#2", "FILE#3"}
    ((record,),) = [e["Records"] for e in events]
    assert record["eventName"] == "REMOVE" and record["userIdentity"]["principalId"] == "dynamodb.amazonaws.com"
    assert record["dynamodb"]["OldImage"] == expired
    assert record["dynamodb"]["Keys"] == {"pk": expired["pk"], "sk": expired["sk"]}
    assert report["invocations"] == [{"function": "scheduler/ttlStream", "records": 1, "result": {"items": 1}}]

    assert run.run_once() == {"deleted": {TABLE: 0}, "invocations": []}, "nothing twice"


def test_records_go_out_batch_size_at_a_time(dynamodb: Any, ttl_stream: FunctionDef) -> None:
    for n in range(5):
        put(dynamodb, f"FILE#{n}", NOW - 10)
    (target,) = stream_targets(ttl_stream)
    run, events = reaper(dynamodb, [StreamTarget(target.fn, target.table, target.arn, 2, target.patterns)])

    run.run_once()

    assert sorted(len(e["Records"]) for e in events) == [1, 2, 2]


def test_a_failing_function_is_reported_and_the_pass_goes_on(dynamodb: Any, ttl_stream: FunctionDef) -> None:
    put(dynamodb, "FILE#1", NOW - 10)

    def broken(fn: FunctionDef, event: Any) -> Any:
        raise RuntimeError("boom")

    run = TtlReaper(dynamodb, [table_settings()], stream_targets(ttl_stream), broken, "eu-west-1", now=lambda: NOW)
    report = run.run_once()
    assert report["deleted"] == {TABLE: 1}
    assert report["invocations"] == [{"function": "scheduler/ttlStream", "records": 1, "error": "RuntimeError: boom"}]
