"""The sweep's fan-out on the local stack: the schedule's event, sent through Lambda's Invoke API (the local
stack answers it at AWS_ENDPOINT_URL_LAMBDA), starts one run per group, which the stack runs in the
background as Lambda runs asynchronous invocations; together they remove the unsaved upload and keep the
saved one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
import requests

from tests.e2e.stack import running_stack
from tests.local.test_scheduler_e2e import _png, status, upload_two_and_save_one

pytestmark = pytest.mark.e2e


def test_the_schedules_fan_out_runs_every_group_through_local_lambda_invoke(tmp_path: Path) -> None:
    data = _png()
    with running_stack(tmp_path / "data") as stack:
        headers = {"Authorization": f"Bearer {stack.mint_token('t1', 'u1', session='desk-1')}"}
        unsaved, saved = upload_two_and_save_one(stack, headers, data)
        moved = requests.post(f"{stack.base_url}/_local/clock", json={"advanceSeconds": 6 * 3600 + 60}, timeout=10)
        assert moved.status_code == 200
        stage = requests.get(f"{stack.base_url}/_local/health", timeout=10).json()["stage"]
        client = boto3.client(
            "lambda",
            endpoint_url=f"{stack.base_url}/_local/lambda",
            region_name="eu-west-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

        answer = client.invoke(
            FunctionName=f"imagestore-scheduler-{stage}-sweep",
            Payload=json.dumps({"detail": {"fanOut": True, "groups": 4}}).encode(),
        )

        assert "FunctionError" not in answer, answer["Payload"].read()
        assert json.loads(answer["Payload"].read()) == {"runs_started": 4, "groups": 4}
        deadline = time.monotonic() + 60
        while status(stack, headers, unsaved) != 404 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status(stack, headers, unsaved) == 404, "a group's run removed the unsaved upload"
        assert status(stack, headers, saved) == 200
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.invoke(FunctionName="imagestore-scheduler-nowhere-sweep", Payload=b"{}")
