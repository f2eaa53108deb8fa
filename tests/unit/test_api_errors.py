"""The one place where errors become HTTP: what the table refuses is a 400, a lost transaction a 409
with Retry-After, never a 500."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from imagestore import api, errors
from imagestore.data.table import Table
from tests.support.events import LambdaContext, api_event


def _table_refusing(code: str, **extra: Any) -> Table:
    client = boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_client_error(
        "query",
        service_error_code=code,
        service_message="The AttributeValue for a key attribute cannot contain an empty string value. Key: sk",
        **extra,
    )
    stubber.activate()
    return Table(client, "t")


def test_a_validation_exception_is_a_bad_request_not_a_server_error() -> None:
    table = _table_refusing("ValidationException", http_status_code=400)
    with pytest.raises(errors.BadRequest) as refused:
        table.query_page(key_condition="pk = :pk", values={":pk": "x"}, start_key={"pk": "x", "sk": "y"})
    assert "empty string" not in refused.value.message  # the SDK's words stay in the log


@pytest.mark.parametrize("code", ["TransactionConflictException", "TransactionInProgressException"])
def test_a_write_that_met_a_transaction_is_a_transaction_conflict(code: str) -> None:
    with pytest.raises(errors.TransactionConflict):
        _table_refusing(code, http_status_code=400).query_page(key_condition="pk = :pk", values={":pk": "x"})


def _resolve(raised: Exception) -> dict[str, Any]:
    app = api.create_app()

    @app.post("/things")
    def _things() -> dict[str, Any]:
        raise raised

    event = api_event("POST", "/things", principal=None, body={})
    event["requestContext"]["requestId"] = "req-0123"
    return app.resolve(event, LambdaContext())  # type: ignore[arg-type]


def test_a_transaction_conflict_that_reaches_the_api_is_409_with_retry_after() -> None:
    response = _resolve(errors.TransactionConflict(["None", "TransactionConflict"]))
    assert response["statusCode"] == 409
    assert response["multiValueHeaders"]["Retry-After"] == ["1"]
    assert json.loads(response["body"]) == {
        "error": {
            "code": "transaction_conflict",
            "message": "a concurrent change to the same items won; retry the request",
            "details": {"retryable": True},
            "requestId": "req-0123",
        }
    }


def test_a_refused_key_through_the_api_is_400() -> None:
    response = _resolve(errors.RefusedByTable("the request names a key or value the table cannot take"))
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "bad_request"


class _Thing(api.bodies.ApiModel):
    name: str


def _posted(raw_body: str) -> dict[str, Any]:
    app = api.create_app()

    @app.post("/things")
    def _things() -> dict[str, Any]:
        return api.parse_body(app, _Thing).dump()

    event = api_event("POST", "/things", principal=None, raw_body=raw_body)
    return app.resolve(event, LambdaContext())  # type: ignore[arg-type]


LAMBDA_ANSWER_BYTES = 6 * 1024 * 1024


def test_a_body_of_100000_unknown_keys_lists_20_problems_and_counts_the_rest() -> None:
    raw = json.dumps({"name": "x", **{f"k{i:05d}": 0 for i in range(100_000)}})
    assert len(raw) > 1_000_000
    response = _posted(raw)
    assert response["statusCode"] == 400
    assert len(response["body"]) < 10_000  # was 6.4 MB: over Lambda's 6 MB, a 502 from API Gateway
    details = json.loads(response["body"])["error"]["details"]
    assert details["problems"][0] == {"field": "k00000", "message": "Extra inputs are not permitted"}
    assert len(details["problems"]) == api.MAX_PROBLEMS
    assert (details["problemCount"], details["omittedProblems"]) == (100_000, 100_000 - api.MAX_PROBLEMS)


def test_a_problem_of_one_4_mib_key_is_cut_short() -> None:
    key = "\U0001f600" * (api.bodies.MAX_BODY_BYTES // 4 - 100)  # 4 bytes in UTF-8, 12 escaped in the answer
    response = _posted(json.dumps({"name": "x", key: 1}, ensure_ascii=False))  # was a 12 MB answer
    assert response["statusCode"] == 400
    assert len(response["body"]) < LAMBDA_ANSWER_BYTES // 100
    (problem,) = json.loads(response["body"])["error"]["details"]["problems"]
    assert len(problem["field"]) == api.MAX_PROBLEM_FIELD_CHARS and problem["field"].endswith("\u2026")
    assert "problemCount" not in json.loads(response["body"])["error"]["details"]


def test_a_few_problems_are_all_listed() -> None:
    response = _posted(json.dumps({"name": 3, "other": 1}))
    details = json.loads(response["body"])["error"]["details"]
    assert [p["field"] for p in details["problems"]] == ["name", "other"]
    assert "omittedProblems" not in details


@pytest.mark.parametrize("raised", [errors.NotFound("no such thing"), ValueError("a bug"), errors.Throttled("busy")])
def test_every_error_body_carries_the_request_id(raised: Exception) -> None:
    response = _resolve(raised)
    assert response["statusCode"] >= 400
    assert json.loads(response["body"])["error"]["requestId"] == "req-0123"


def test_an_unknown_route_and_a_success_are_left_as_they_are() -> None:
    app = api.create_app()

    @app.get("/things")
    def _things() -> dict[str, Any]:
        return {"error": "a field of a successful answer"}

    ok = app.resolve(api_event("GET", "/things", principal=None), LambdaContext())  # type: ignore[arg-type]
    assert json.loads(ok["body"]) == {"error": "a field of a successful answer"}
    missing = api_event("GET", "/nothing", principal=None)
    answer = app.resolve(missing, LambdaContext())  # type: ignore[arg-type]
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["error"]["requestId"] == missing["requestContext"]["requestId"]
