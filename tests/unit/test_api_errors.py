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

    return app.resolve(api_event("POST", "/things", principal=None, body={}), LambdaContext())  # type: ignore[arg-type]


def test_a_transaction_conflict_that_reaches_the_api_is_409_with_retry_after() -> None:
    response = _resolve(errors.TransactionConflict(["None", "TransactionConflict"]))
    assert response["statusCode"] == 409
    assert response["multiValueHeaders"]["Retry-After"] == ["1"]
    assert json.loads(response["body"]) == {
        "error": {
            "code": "transaction_conflict",
            "message": "a concurrent change to the same items won; retry the request",
            "details": {"retryable": True},
        }
    }


def test_a_refused_key_through_the_api_is_400() -> None:
    response = _resolve(errors.RefusedByTable("the request names a key or value the table cannot take"))
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "bad_request"
