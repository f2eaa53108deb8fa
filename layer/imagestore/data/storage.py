"""The image bucket: presigned requests, head, ranged reads, batched deletes."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as SdkConnectionError

from imagestore.errors import Conflict, Throttled, Unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys a call


class ObjectChanged(Exception):
    """The object was replaced or deleted while it was being read (its ETag no longer matches)."""


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class PresignedPart:
    part_number: int
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class UploadedPart:
    part_number: int
    size_bytes: int
    etag: str
    sha256: str | None = None


@dataclass(frozen=True)
class CopyOutcome:
    """A verified copy: copied False when the source was gone or changed; sha256 is the copy's full
    SHA-256 (base64) when the store computed it, else None."""

    copied: bool
    sha256: str | None = None


@dataclass(frozen=True)
class ObjectHead:
    size_bytes: int
    content_type: str | None
    etag: str | None = None


@dataclass(frozen=True)
class StoredObject:
    key: str
    last_modified: float  # epoch seconds


@dataclass
class DeleteResult:
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class ImageBucket:
    """The bucket that holds image bytes, reached through an injected client, or through a function
    that makes the client when the bucket is first used: creating an S3 client costs ~80 ms of a cold
    start, which a function that finds nothing to do with the bucket (a sweep with nothing due) skips."""

    def __init__(self, client: S3Client | Callable[[], S3Client], name: str) -> None:
        self._client = client
        self.name = name

    @cached_property
    def client(self) -> S3Client:
        return self._client() if callable(self._client) else self._client

    def presign_upload(
        self, key: str, *, content_type: str, max_bytes: int, min_bytes: int, expires_in: int, sha256: str | None = None
    ) -> PresignedPost:
        """A POST policy that accepts exactly this key, this content type and this size range; with
        sha256 (base64), only bytes of that SHA-256 (S3 checks x-amz-checksum-sha256 and refuses others)."""
        fields = {"Content-Type": content_type}
        conditions: list[Any] = [
            {"bucket": self.name},
            ["eq", "$key", key],
            ["eq", "$Content-Type", content_type],
            ["content-length-range", min_bytes, max_bytes],
        ]
        if sha256 is not None:
            fields["x-amz-checksum-algorithm"] = "SHA256"
            fields["x-amz-checksum-sha256"] = sha256
            conditions += [["eq", "$x-amz-checksum-algorithm", "SHA256"], ["eq", "$x-amz-checksum-sha256", sha256]]
        post = self.client.generate_presigned_post(
            Bucket=self.name,
            Key=key,
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=expires_in,
        )
        return PresignedPost(url=post["url"], fields=dict(post["fields"]))

    def presign_download(
        self, key: str, *, expires_in: int, filename: str | None = None, content_type: str | None = None
    ) -> str:
        """A GET of the object for expires_in seconds. With a filename, the answer is an attachment of
        that name and of content_type (the verified type): S3 cannot send `X-Content-Type-Options:
        nosniff` on a presigned GET, so a browser that navigates to the URL saves the bytes instead of
        rendering them (an <img> ignores the disposition). See docs/downloads.md."""
        params: dict[str, Any] = {"Bucket": self.name, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        if content_type:
            params["ResponseContentType"] = content_type
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def browser_origins(self) -> list[str]:
        """The origins a browser reaches this bucket at through the URLs above (presigned POST and GET),
        for a page's Content-Security-Policy; presigning makes no request."""
        urls = (
            self.presign_upload("origin-probe", content_type="image/jpeg", max_bytes=1, min_bytes=1, expires_in=60).url,
            self.presign_download("origin-probe", expires_in=60),
        )
        origins = []
        for url in urls:
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
        return origins

    def head(self, key: str) -> ObjectHead | None:
        """Size and type of an object, or None when it does not exist."""
        try:
            response = self.client.head_object(Bucket=self.name, Key=key)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            _raise_throttled(exc)
            raise
        return ObjectHead(
            size_bytes=int(response["ContentLength"]),
            content_type=response.get("ContentType"),
            etag=response.get("ETag"),
        )

    def read_prefix(self, key: str, length: int, *, etag: str | None = None) -> bytes:
        """The first `length` bytes of an object (one ranged GET); with etag, only of that version
        (ObjectChanged otherwise)."""
        return self.read_range(key, 0, length, etag=etag)

    def read_range(self, key: str, start: int, length: int, *, etag: str | None = None) -> bytes:
        """`length` bytes of an object from `start` (one ranged GET), of the version `etag` if given."""
        kwargs: dict[str, Any] = {"Bucket": self.name, "Key": key, "Range": f"bytes={start}-{start + length - 1}"}
        if etag:
            kwargs["IfMatch"] = etag
        try:
            response = self.client.get_object(**kwargs)
        except ClientError as exc:
            if etag and _code(exc) in ("PreconditionFailed", "412", "404", "NoSuchKey", "NotFound"):
                raise ObjectChanged(key) from exc
            _raise_throttled(exc)
            raise
        return response["Body"].read()

    def copy_if_unchanged(self, source_key: str, target_key: str, etag: str) -> CopyOutcome:
        """Server-side copy of source_key's version `etag` to target_key; not copied when the source is
        gone or holds other bytes now. S3 checks x-amz-copy-source-if-match; the copy's own ETag is
        compared too (an emulator may ignore the header; a single-part object's ETag is its MD5 under
        SSE-S3), and a copy of other bytes is deleted again. The ETag of a multipart upload's object
        ("...-N") is not its copy's (the copy is one part): that source is written by nothing but
        its own completed multipart upload, and If-Match alone guards it.

        S3 computes the copy's full-object SHA-256 (ChecksumAlgorithm), which the caller compares with
        a declared one: a multipart object's own checksum is a checksum of its parts' checksums."""
        try:
            response = self.client.copy_object(
                Bucket=self.name,
                Key=target_key,
                CopySourceIfMatch=etag,
                CopySource={"Bucket": self.name, "Key": source_key},
                MetadataDirective="COPY",
                ChecksumAlgorithm="SHA256",
            )
        except (SdkConnectionError, HTTPClientError) as exc:
            raise _no_answer("copy", exc) from exc
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "404", "NoSuchKey", "NotFound"):
                return CopyOutcome(copied=False)
            _raise_throttled(exc)
            raise
        result = response.get("CopyObjectResult", {})
        # Compared without quotes: S3 quotes ETags, some S3 stores (SeaweedFS) leave the copy's unquoted.
        if "-" not in etag and str(result.get("ETag", "")).strip('"') != etag.strip('"'):
            self.delete_objects([target_key])
            return CopyOutcome(copied=False)
        return CopyOutcome(copied=True, sha256=result.get("ChecksumSHA256") or None)

    # ---- multipart uploads: the parts go straight from the client to S3 with presigned URLs

    def create_multipart(self, key: str, *, content_type: str, checksum: bool) -> str:
        """Start a multipart upload of key (its type fixed here); with checksum, every part must carry
        its SHA-256 (S3 verifies each). Its upload id."""
        kwargs: dict[str, Any] = {"Bucket": self.name, "Key": key, "ContentType": content_type}
        if checksum:
            kwargs["ChecksumAlgorithm"] = "SHA256"
        try:
            return str(self.client.create_multipart_upload(**kwargs)["UploadId"])
        except ClientError as exc:
            _raise_throttled(exc)
            raise

    def presign_part(
        self, key: str, upload_id: str, part_number: int, *, size_bytes: int, sha256: str | None, expires_in: int
    ) -> PresignedPart:
        """A presigned UploadPart whose signature covers the part's exact Content-Length (and its
        x-amz-checksum-sha256 when given): S3 refuses a part of any other size or hash."""
        params: dict[str, Any] = {
            "Bucket": self.name,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": part_number,
            "ContentLength": size_bytes,
        }
        headers = {"Content-Length": str(size_bytes)}
        if sha256 is not None:
            params["ChecksumSHA256"] = sha256
            headers["x-amz-checksum-sha256"] = sha256
        url = self.client.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_in)
        return PresignedPart(part_number=part_number, url=url, headers=headers)

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart] | None:
        """The parts S3 holds of an upload (every page), in part order; None when the upload is gone
        (completed or aborted)."""
        parts: list[UploadedPart] = []
        marker = 0
        while True:
            try:
                response = self.client.list_parts(
                    Bucket=self.name, Key=key, UploadId=upload_id, PartNumberMarker=marker, MaxParts=1000
                )
            except ClientError as exc:
                if _code(exc) in ("NoSuchUpload", "404", "NotFound"):
                    return None
                _raise_throttled(exc)
                raise
            parts.extend(
                UploadedPart(
                    part_number=int(p["PartNumber"]),
                    size_bytes=int(p["Size"]),
                    etag=str(p["ETag"]),
                    sha256=p.get("ChecksumSHA256") or None,
                )
                for p in response.get("Parts", [])
            )
            if not response.get("IsTruncated"):
                return sorted(parts, key=lambda p: p.part_number)
            marker = int(response.get("NextPartNumberMarker", 0))

    def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart]) -> bool:
        """Join the parts into the object; False when the upload is gone (completed or aborted)."""
        listed: list[dict[str, Any]] = []
        for p in parts:
            entry: dict[str, Any] = {"PartNumber": p.part_number, "ETag": p.etag}
            if p.sha256:
                entry["ChecksumSHA256"] = p.sha256
            listed.append(entry)
        try:
            self.client.complete_multipart_upload(
                Bucket=self.name,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": listed},  # type: ignore[typeddict-item]
            )
        except (SdkConnectionError, HTTPClientError) as exc:
            raise _no_answer("join of the parts", exc) from exc
        except ClientError as exc:
            if _code(exc) in ("NoSuchUpload", "404", "NotFound"):
                return False
            if _code(exc) in (
                "InvalidPart",
                "InvalidPartOrder",
                "InvalidRequest",
                "BadDigest",
                "EntityTooSmall",
                "InvalidArgument",
            ):
                # The parts S3 holds are not the ones named (a part sent again with other bytes meanwhile).
                raise Conflict(
                    "the parts do not match the ones signed; list the parts and send them again",
                    details={"s3Error": _code(exc)},
                ) from exc
            _raise_throttled(exc)
            raise
        return True

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort an upload and free its parts; an upload already gone is fine."""
        try:
            self.client.abort_multipart_upload(Bucket=self.name, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if _code(exc) in ("NoSuchUpload", "404", "NotFound"):
                return
            _raise_throttled(exc)
            raise

    def put_document(self, key: str, body: bytes) -> None:
        """Store a JSON document (a project too large for its item, or one frozen into an order)."""
        try:
            self.client.put_object(Bucket=self.name, Key=key, Body=body, ContentType="application/json")
        except ClientError as exc:
            _raise_throttled(exc)
            raise

    def put_preview(self, key: str, body: bytes, content_type: str) -> None:
        """Store a preview (written by the preview function only)."""
        try:
            self.client.put_object(
                Bucket=self.name, Key=key, Body=body, ContentType=content_type, CacheControl="private, max-age=86400"
            )
        except ClientError as exc:
            _raise_throttled(exc)
            raise

    def read(self, key: str) -> bytes | None:
        """A whole (small) object, or None when it does not exist."""
        try:
            return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            _raise_throttled(exc)
            raise

    def copy(self, source_key: str, target_key: str) -> bool:
        """Server-side copy (the bytes never leave S3); False when the source is gone."""
        try:
            self.client.copy_object(
                Bucket=self.name, Key=target_key, CopySource={"Bucket": self.name, "Key": source_key}
            )
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            _raise_throttled(exc)
            raise
        return True

    def list_page(self, *, token: str | None, max_keys: int = 1000) -> tuple[list[StoredObject], str | None]:
        """One ListObjectsV2 page of the bucket and the token of the next (None after the last)."""
        kwargs: dict[str, Any] = {"Bucket": self.name, "MaxKeys": max_keys}
        if token:
            kwargs["ContinuationToken"] = token
        try:
            response = self.client.list_objects_v2(**kwargs)
        except ClientError as exc:
            _raise_throttled(exc)
            raise
        objects = [
            StoredObject(key=o["Key"], last_modified=o["LastModified"].timestamp())
            for o in response.get("Contents", [])
        ]
        return objects, response.get("NextContinuationToken") if response.get("IsTruncated") else None

    def delete_objects(self, keys: Iterable[str]) -> DeleteResult:
        """Delete keys in batches of 1,000; keys S3 could not delete are returned, never dropped."""
        result = DeleteResult()
        pending = list(dict.fromkeys(keys))
        for start in range(0, len(pending), DELETE_BATCH):
            batch: Sequence[str] = pending[start : start + DELETE_BATCH]
            try:
                response = self.client.delete_objects(
                    Bucket=self.name,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except ClientError as exc:
                for k in batch:
                    result.failed[k] = _code(exc)
                continue
            errors = {e["Key"]: e.get("Code", "Error") for e in response.get("Errors", [])}
            result.failed.update(errors)
            result.deleted.extend(k for k in batch if k not in errors)
        return result


# attr-char of RFC 8187 (RFC 5987), what may stand unencoded in filename*=UTF-8''...
_ATTR_CHARS = "!#$&+-.^_`|~"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266: the name as UTF-8 in filename*, and an ASCII filename="..." for old clients
    (accents dropped, anything else not printable ASCII or a quote or backslash replaced by '_')."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in ascii_name).strip()
    stem, dot, extension = fallback.rpartition(".")
    if not dot:
        stem, extension = fallback, ""
    if not any(c.isalnum() for c in stem):
        fallback = "download" + (f".{extension}" if extension.isalnum() else "")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe=_ATTR_CHARS)}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _no_answer(operation: str, exc: Exception) -> Unavailable:
    """A copy or a multipart join of a large object that S3 did not answer within the client's read
    timeout (S3 keeps such a connection alive with whitespace; a busy SeaweedFS does not), or a dropped
    connection: 503 with Retry-After, the completion is safe to ask again (it verifies and copies anew)."""
    return Unavailable(f"the bucket did not answer the {operation} in time ({type(exc).__name__}); retry")


def _raise_throttled(exc: ClientError) -> None:
    if _code(exc) in ("SlowDown", "ThrottlingException", "RequestLimitExceeded", "503"):
        raise Throttled("the bucket is busy; retry") from exc
    if _code(exc) in ("InternalError", "ServiceUnavailable", "500"):
        raise Unavailable("the bucket failed to answer; retry") from exc
