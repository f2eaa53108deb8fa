"""The table's stream in service tests: moto keeps one for the table (its StreamSpecification); this reads
the records written since the last call and hands them to a function's `stream` event as Lambda does: its
filterPatterns from services/<service>/serverless.yml, batchSize records a batch (the local stack's
poller, imagestore_local.streams, does the same against its emulator)."""

from __future__ import annotations

from typing import Any

from imagestore_local.scheduler import pattern_matches
from imagestore_local.streams import lambda_record
from tests.support.cfn import service_definition
from tests.support.events import LambdaContext


class StreamReader:
    def __init__(self, dynamodb: Any, table: str, service: str, function: str, handler: Any) -> None:
        import boto3

        self.streams = boto3.client("dynamodbstreams", region_name=dynamodb.meta.region_name)
        self.arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        spec = next(e["stream"] for e in service_definition(service)["functions"][function]["events"] if "stream" in e)
        self.patterns = list(spec.get("filterPatterns") or [])
        self.batch_size = int(spec.get("batchSize", 100))
        self.handler = handler
        self.seen: set[str] = set()

    def records(self) -> list[dict[str, Any]]:
        """Every record not handed over yet that the filter lets through."""
        out = []
        shards = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = self.streams.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                answer = self.streams.get_records(ShardIterator=iterator)
                for raw in answer.get("Records", []):
                    if raw["eventID"] in self.seen:
                        continue
                    self.seen.add(raw["eventID"])
                    record = lambda_record(raw, self.arn)
                    if not self.patterns or any(pattern_matches(p, record) for p in self.patterns):
                        out.append(record)
                if not answer.get("Records"):
                    break
                iterator = answer.get("NextShardIterator")
        return out

    def deliver(self) -> list[Any]:
        """Invoke the handler with the new records, batchSize at a time; its answers."""
        records = self.records()
        return [
            self.handler({"Records": records[i : i + self.batch_size]}, LambdaContext())
            for i in range(0, len(records), self.batch_size)
        ]
