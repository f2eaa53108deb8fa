"""Seed osls compose's local state with outputs shaped like the file service's, for offline packaging."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ACCOUNT_ID = "123456789012"  # the account moto and the local stack use; never a real one


def file_service_outputs(stage: str, region: str, account_id: str = ACCOUNT_ID) -> dict[str, str]:
    """The stack outputs of imagestore-file that project and scheduler receive as params."""
    table = f"imagestore-{stage}"
    bucket = f"imagestore-{stage}-images-{region}"
    table_arn = f"arn:aws:dynamodb:{region}:{account_id}:table/{table}"
    authorizer = f"arn:aws:lambda:{region}:{account_id}:function:imagestore-file-{stage}-authorizer:1"
    return {
        "TableName": table,
        "TableArn": table_arn,
        "TableStreamArn": f"{table_arn}/stream/1970-01-01T00:00:00.000",
        "BucketName": bucket,
        "BucketArn": f"arn:aws:s3:::{bucket}",
        "ImagestoreLambdaLayerQualifiedArn": f"arn:aws:lambda:{region}:{account_id}:layer:imagestore:1",
        "AuthorizerLambdaFunctionQualifiedArn": authorizer,
        "CorsOrigins": "http://localhost:*,http://127.0.0.1:*",
        "TenantCacheSeconds": "60",
        "UnknownTenants": "refuse",
    }


def compose_state(stage: str, region: str) -> dict[str, object]:
    """A compose state document in the shape @osls/compose's LocalStateStorage reads."""
    return {
        "service": {"id": f"offline-{stage}"},
        "components": {"file": {"outputs": file_service_outputs(stage, region), "state": {}}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--region", default="eu-west-1")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(compose_state(args.stage, args.region), indent=2) + "\n")


if __name__ == "__main__":
    main()
