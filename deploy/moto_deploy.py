"""Deploy the packaged stacks into moto's CloudFormation, as `serverless deploy` would, and report.

Not part of `make package`: an experiment that shows which parts of the templates an emulated AWS
accepts. For each service: create the stack from the create-stack template (the deployment
bucket), upload the artifacts under the S3 keys the update template names, update the stack with
the update template, then list every resource with its status.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("file", "project", "scheduler")


def _wait(cfn: Any, name: str) -> str:
    while True:
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            return status
        time.sleep(0.2)


def _artifact_keys(template: dict[str, Any]) -> dict[str, str]:
    """S3 key -> artifact file name, for every function and layer of the template."""
    keys = {}
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        code = props.get("Code") or props.get("Content") or {}
        if isinstance(code.get("S3Key"), str):
            keys[code["S3Key"]] = code["S3Key"].rsplit("/", 1)[-1]
    return keys


def deploy_service(service: str, session: Any) -> dict[str, Any]:
    folder = ROOT / "services" / service / ".serverless"
    name = f"imagestore-{service}-dev"
    cfn = session.client("cloudformation")
    s3 = session.client("s3")
    create = (folder / "cloudformation-template-create-stack.json").read_text()
    cfn.create_stack(StackName=name, TemplateBody=create, Capabilities=["CAPABILITY_NAMED_IAM"])
    report: dict[str, Any] = {"create": _wait(cfn, name)}
    bucket = cfn.describe_stack_resource(StackName=name, LogicalResourceId="ServerlessDeploymentBucket")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    update = json.loads((folder / "cloudformation-template-update-stack.json").read_text())
    for key, filename in _artifact_keys(update).items():
        s3.upload_file(str(folder / filename), bucket, key)
    try:
        cfn.update_stack(StackName=name, TemplateBody=json.dumps(update), Capabilities=["CAPABILITY_NAMED_IAM"])
        report["update"] = _wait(cfn, name)
    except ClientError as exc:  # a refusal is what this report is for
        report["update"] = f"refused: {exc}"
    resources = cfn.get_paginator("list_stack_resources").paginate(StackName=name)
    created = {
        r.get("LogicalResourceId", "?"): r.get("ResourceStatus")
        for page in resources
        for r in page["StackResourceSummaries"]
    }
    report["resources"] = created
    report["missing"] = sorted(
        f"{logical} ({spec['Type']})" for logical, spec in update["Resources"].items() if logical not in created
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    report["outputs"] = {o["OutputKey"]: o.get("OutputValue") for o in stack.get("Outputs", [])}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--report", type=Path, default=ROOT / "build" / "moto-deploy.json")
    args = parser.parse_args()

    import logging
    import warnings

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse")

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=f"http://{host}:{port}"
        )
        session = boto3.Session(region_name="eu-west-1")
        results = {}
        for service in SERVICES:
            try:
                results[service] = deploy_service(service, session)
            except ClientError as exc:
                results[service] = {"error": repr(exc)}
    finally:
        server.stop()
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(results, indent=2) + "\n")
    for service, result in results.items():
        print(f"{service}: create={result.get('create')} update={result.get('update')} error={result.get('error')}")
        print(f"  not created by moto: {', '.join(result.get('missing', [])) or 'none'}")


if __name__ == "__main__":
    main()
