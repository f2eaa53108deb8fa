"""The OpenAPI 3.1 documents of the REST APIs, generated at build time from the pydantic models the
handlers validate requests with and answer with (`make openapi`; no function builds them at run time).

One document per REST API (services/<service>/openapi.json, packaged with the service and served by
its `openapi` function) and the merged one (docs/openapi.json, served by the local stack with /docs).
Every route of every serverless.yml is in OPERATIONS; tests/deploy/test_openapi.py fails when a route,
a model or a committed document drifts.

    python -m deploy.openapi            write the three documents
    python -m deploy.openapi --check    exit 1 when a committed document differs from the generated one
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from file_service import models as file_models
from imagestore.bodies import MAX_BODY_BYTES
from imagestore.data.pagination import DEFAULT_LIMIT, MAX_CURSOR_CHARS, MAX_LIMIT
from imagestore.idempotency import MAX_KEY_CHARS
from imagestore.models.webhooks import EVENT_MODELS
from imagestore.preconditions import MAX_VERSION_DIGITS
from imagestore.previews import MAX_PRINT_MM, MIN_PRINT_MM
from project_service import models as project_models

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("file", "project")
TITLES = {
    "file": "imagestore File API",
    "project": "imagestore Project API",
    None: "imagestore API",
}
VERSION = "1.0.0"
REF = "#/components/schemas/{model}"

# Statuses every operation behind the authorizer can answer: a malformed request, no or a bad token,
# a scoped token outside its scope (or a route the authorizer's policy does not allow), throttling.
AUTHORIZED_ERRORS = (400, 401, 403, 429)
ERROR_DESCRIPTIONS = {
    400: "Malformed request: body, field, query parameter, header or cursor (`details.problems` lists up to 20 "
    "bad fields; `details.problemCount` and `details.omittedProblems` say how many more there were)",
    401: "No token, a forged or expired one, or claims of the wrong type",
    403: "A scoped token (such as a mobile-upload token) outside its scope",
    404: "No such resource for this caller (also what another user or tenant sees)",
    409: "The resource's state does not allow it, or a concurrent change won (retry after Retry-After)",
    412: "If-Match names a version that is no longer current",
    413: "Body over 4 MiB, document over 1 MiB, or a declared size over the tenant's limit",
    415: "A content type the tenant does not accept",
    422: "Well-formed but wrong: bytes that are not the declared image type, unknown or unavailable file ids",
    428: "If-Match is required",
    429: "Throttled (the tenant's rate or the table's); retry after Retry-After",
    503: "DynamoDB or S3 failed for a moment; retry after Retry-After",
}
TAG_DESCRIPTIONS = {
    "uploads": "Presigned uploads straight to S3 and their verification, one file or up to 100 at a time",
    "multipart": "Large files in parts, resumable after a cut",
    "files": "The caller's files: read, print check, delete",
    "mobile uploads": "A link (and its QR code) through which a phone uploads into the desktop's session",
    "projects": "Saved editor documents that hold their files, versioned (ETag, If-Match)",
    "shares": "Links that show a project or let another user copy it",
    "members": "Collaboration: invites with a role, the project's members, roles changed, members removed, leaving",
    "comments": "Collaboration: comments on a project and its activity",
    "cart items": "Products to order, each pinning a project version",
    "orders": "Placed orders: frozen projects and files for the print lab",
    "webhooks": "The shop's endpoints for signed event deliveries, and the events they receive",
    "documents": "This API's OpenAPI document",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}}


@dataclass(frozen=True)
class Param:
    """A query, header or path parameter."""

    name: str
    where: str  # "query", "header", "path"
    schema: dict[str, Any]
    description: str
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class Operation:
    """One route: what it takes and what it answers, by model."""

    service: str
    method: str  # lower case, as OpenAPI spells it
    path: str
    operation_id: str
    summary: str
    tag: str
    # status -> model, a media type (binary or text), text media types the answer is one of, or no body
    responses: dict[int, type[BaseModel] | str | tuple[str, ...] | None]
    body: type[BaseModel] | None = None
    body_required: bool = True
    body_example: dict[str, Any] | None = None
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    security: tuple[str, ...] = ("bearerJwt",)
    response_headers: dict[int, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, dict[str, Any]] = field(default_factory=dict)  # link name -> OpenAPI Link object
    description: str = ""
    idempotent: bool = False  # takes Idempotency-Key (the route names imagestore.idempotency.idempotent)


LIMIT = Param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    f"Page size, {DEFAULT_LIMIT} by default; values outside 1..{MAX_LIMIT} are clamped to it",
    example=20,
)
CURSOR = Param(
    "cursor",
    "query",
    {"type": "string", "maxLength": MAX_CURSOR_CHARS},
    "The `nextCursor` of the previous page (opaque; a cursor of another list or user is a 400)",
)
# A version from 1 up, at most MAX_VERSION_DIGITS digits (the API also takes leading zeros; "0" is refused).
_VERSION = f"[1-9][0-9]{{0,{MAX_VERSION_DIGITS - 1}}}"
FILES_CURSOR = Param(
    "filesCursor",
    "query",
    {"type": "string", "maxLength": 40},
    f"The `filesNextCursor` of the previous answer: the next page of files "
    f"({project_models.FILES_PAGE_SIZE} a page; a cursor of another version of the project is a 409)",
)
IF_MATCH = Param(
    "If-Match",
    "header",
    {"type": "string", "pattern": f'^((W/)?"{_VERSION}"|{_VERSION})$'},
    'The version being replaced: `3`, `"3"` or `W/"3"` (the ETag of the last save)',
    required=True,
    example='"1"',
)
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS},
    "A key the client makes per intended create (a UUID, say; printable ASCII). The same key with the same "
    "request within 24 hours answers the first request's answer again (header `Idempotent-Replayed: true`) and creates "
    "nothing; with another request it is a 422 (`idempotency_key_reused`); while the first still runs, a "
    "409 (`idempotency_key_in_use`, retry after Retry-After). Keys are the caller's own (tenant and user). "
    "Only successful answers are kept: after an error the same key runs the request again. (No example: "
    "one example key shared by every operation would be the reuse this header refuses.)",
)
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when this answer is the replay of an earlier request with the same Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
ETAG = {
    "ETag": {
        "description": "The project's version, quoted: send it back as If-Match (to save) or "
        "If-None-Match (to read only when it changed)",
        "schema": {"type": "string"},
        "example": '"2"',
    }
}
# On the answers of operations behind the authorizer (a usage plan counts them): docs/rate-limits.md.
RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": {
        "description": 'The caller\'s usage plan (IETF httpapi RateLimit draft): `"rate";q=<requests>;w=<seconds>` '
        '(the plan\'s burst, refilled within the window) and `"day";q=<requests>;w=86400` (the daily quota). '
        "The plan is shared by the tenants on it. Absent when the stage states no limits.",
        "schema": {"type": "string"},
        "example": '"rate";q=2500;w=1, "day";q=200000000;w=86400',
    },
    "RateLimit": {
        "description": 'What is left of each policy: `"rate";r=<requests>;t=<seconds until full>, '
        '"day";r=<requests>;t=<seconds until UTC midnight>`. Only the local stack\'s gateway answers it: API '
        "Gateway enforces the plans but tells no one what is left (pace by RateLimit-Policy, and on a 429 wait "
        "Retry-After).",
        "schema": {"type": "string"},
        "example": '"rate";r=2499;t=1, "day";r=199999000;t=43200',
    },
}
IF_NONE_MATCH = Param(
    "If-None-Match",
    "header",
    {"type": "string"},
    'The ETag of the copy the client has (`"3"`; a list or `*` too): when it is the current '
    "version the answer is 304 with no body, at the cost of one small read",
    example='"1"',
)


def _path(name: str, description: str) -> Param:
    return Param(name, "path", {"type": "string", "minLength": 1}, description, required=True)


FILE_ID = _path("fileId", "A file's id, as POST /uploads returned it")
MOBILE_UPLOAD_ID = _path("mobileUploadId", "A mobile upload's id")
PROJECT_ID = _path("projectId", "A project's id")
SHARE_ID = _path("shareId", "A share's id")
SHARE_TOKEN = _path("token", "A share link's capability token (a secret: keep it out of logs)")
CART_ITEM_ID = _path("cartItemId", "A cart item's id")
INVITE_ID = _path("inviteId", "An invite's id")
INVITE_TOKEN = _path("token", "An invite link's capability token (a secret: keep it out of logs)")
MEMBER_ID = _path("userId", "A member's user id (the caller's own to leave)")
COMMENT_ID = _path("commentId", "A comment's id")
SINCE = Param(
    "since",
    "query",
    {"type": "string", "maxLength": 40},
    "Only what happened at or after this time: ISO 8601 (`2026-12-08T10:00:00Z`) or epoch seconds",
    example="2026-12-08T10:00:00Z",
)
COLLABORATION_NOTE = "See docs/collaboration.md for roles and limits."
ORDER_ID = _path("orderId", "An order's id")
ENDPOINT_ID = _path("endpointId", "A webhook endpoint's id")
WEBHOOKS_SCOPE_NOTE = (
    "Needs a token whose scope includes `webhooks` (the shop's backend); any other token "
    "is a 403. Another tenant's endpoint is a 404. See docs/webhooks.md."
)


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


OPERATIONS: tuple[Operation, ...] = (
    # ---- File API
    Operation(
        "file",
        "post",
        "/uploads",
        "requestUpload",
        "Ask for a presigned upload",
        "uploads",
        {201: file_models.UploadTicket},
        body=file_models.UploadRequest,
        body_example={"filename": "photo.jpg", "contentType": "image/jpeg", "sizeBytes": 2_345_678},
        errors=(404, 409, 413, 415),
        security=("bearerJwt", "mobileUploadToken"),
        description="A presigned S3 POST whose policy pins the key, the content type and the size. Send the "
        "bytes to `upload.url` with `upload.fields`, then call complete. With a mobile-upload token "
        "the file joins that mobile upload (404 once it is gone, 409 when it is full).",
        links={
            "CompleteUpload": _link("completeUpload", fileId="$response.body#/fileId"),
            "GetFile": _link("getFile", fileId="$response.body#/fileId"),
        },
        idempotent=True,
    ),
    Operation(
        "file",
        "post",
        "/uploads/{fileId}/complete",
        "completeUpload",
        "Verify an uploaded file",
        "uploads",
        {200: file_models.FileView},
        params=(FILE_ID,),
        errors=(404, 409, 413, 415, 422),
        security=("bearerJwt", "mobileUploadToken"),
        description="Checks the object exists, its size and that its bytes really are the declared image type; "
        "the file becomes available. The S3 ObjectCreated event does the same, idempotently.",
        links={"GetFile": _link("getFile", fileId="$response.body#/fileId")},
    ),
    Operation(
        "file",
        "post",
        "/upload-batches",
        "requestUploads",
        "Ask for up to 100 presigned uploads",
        "uploads",
        {200: file_models.UploadBatchResult},
        body=file_models.UploadBatchRequest,
        body_example={
            "files": [
                {
                    "filename": "p1.jpg",
                    "contentType": "image/jpeg",
                    "sizeBytes": 2_345_678,
                    "sha256": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
                }
            ]
        },
        errors=(404, 409),
        security=("bearerJwt", "mobileUploadToken"),
        description="Each file is checked as by requestUpload and answered on its own in `items` (same order, "
        "`index`): 201 with its ticket, 200 with `ticket.duplicate` true when the caller already "
        "has an available file of that `sha256` (nothing to upload), or its 4xx `error` (a bad "
        "field, a type or size the tenant refuses, a sha256 repeated in the batch). More than "
        f"{file_models.MAX_BATCH} files, or none, is a 400 for the whole batch.",
        idempotent=True,
    ),
    Operation(
        "file",
        "post",
        "/upload-batches/complete",
        "completeUploads",
        "Verify up to 100 uploaded files",
        "uploads",
        {200: file_models.CompleteBatchResult},
        body=file_models.CompleteBatchRequest,
        body_example={"fileIds": ["01J8Z6Q4W5V9XK2M3N4P5R6S7T"]},
        errors=(404,),
        security=("bearerJwt", "mobileUploadToken"),
        description="Each file is completed as by completeUpload and answered on its own in `items`: 200 with "
        "the file, or its error (404 unknown, 409 bytes not there yet, 422 refused bytes, 400 an id "
        f"repeated in the batch). More than {file_models.MAX_BATCH} ids, or none, is a 400.",
    ),
    Operation(
        "file",
        "post",
        "/multipart-uploads",
        "createMultipartUpload",
        "Start a multipart upload",
        "multipart",
        {201: file_models.MultipartTicket, 200: file_models.MultipartTicket},
        body=file_models.MultipartRequest,
        body_example={"filename": "big.jpg", "contentType": "image/jpeg", "sizeBytes": 60_000_000},
        errors=(404, 409, 413, 415),
        security=("bearerJwt", "mobileUploadToken"),
        description="For large files and weak networks: parts of `partSizeBytes` (the last one smaller) go "
        "straight to S3 with URLs from signMultipartParts; after a cut, listMultipartParts says "
        "which are missing. With `sha256`, S3 verifies every part's sha256 and the whole file's "
        "is checked at completion; 200 with `duplicate` true when the caller already has those bytes.",
        links={
            "SignMultipartParts": _link("signMultipartParts", fileId="$response.body#/fileId"),
            "ListMultipartParts": _link("listMultipartParts", fileId="$response.body#/fileId"),
            "CompleteMultipartUpload": _link("completeMultipartUpload", fileId="$response.body#/fileId"),
            "AbortMultipartUpload": _link("abortMultipartUpload", fileId="$response.body#/fileId"),
        },
        idempotent=True,
    ),
    Operation(
        "file",
        "post",
        "/multipart-uploads/{fileId}/parts",
        "signMultipartParts",
        "Presigned URLs for parts of a multipart upload",
        "multipart",
        {200: file_models.SignedParts},
        body=file_models.SignPartsRequest,
        params=(FILE_ID,),
        body_example={"parts": [{"partNumber": 1}, {"partNumber": 2}]},
        errors=(404, 409),
        security=("bearerJwt", "mobileUploadToken"),
        description=f"Up to {file_models.MAX_PARTS_PER_CALL} parts a call. Each URL is a PUT signed for the "
        "part's exact size (and its sha256): send the listed `headers` with it.",
    ),
    Operation(
        "file",
        "get",
        "/multipart-uploads/{fileId}/parts",
        "listMultipartParts",
        "The parts S3 holds of a multipart upload",
        "multipart",
        {200: file_models.MultipartPartsView},
        params=(FILE_ID,),
        errors=(404, 409),
        security=("bearerJwt", "mobileUploadToken"),
        description="After a cut, send only `missingPartNumbers`.",
    ),
    Operation(
        "file",
        "post",
        "/multipart-uploads/{fileId}/complete",
        "completeMultipartUpload",
        "Join the parts and verify the file",
        "multipart",
        {200: file_models.FileView},
        body=file_models.CompleteMultipartRequest,
        body_required=False,
        params=(FILE_ID,),
        errors=(404, 409, 422),
        security=("bearerJwt", "mobileUploadToken"),
        description="Joins the parts S3 holds (409 with `details.missingPartNumbers` while some are missing) "
        "and checks the file as completeUpload does (size, type, structure, sha256). An optional "
        "`parts` list must be ascending and name every part (400 otherwise).",
    ),
    Operation(
        "file",
        "delete",
        "/multipart-uploads/{fileId}",
        "abortMultipartUpload",
        "Abort a multipart upload",
        "multipart",
        {204: None},
        params=(FILE_ID,),
        errors=(404, 409),
        security=("bearerJwt", "mobileUploadToken"),
        description="S3 drops the parts it holds and the pending file goes; 409 once it is completed.",
    ),
    Operation(
        "file",
        "get",
        "/files",
        "listFiles",
        "The caller's files",
        "files",
        {200: file_models.FilePage},
        params=(LIMIT, CURSOR),
        description="The caller's own files (pending and available) in its sessions, a page at a time; another user's "
        "never show. Each entry carries a short-lived download URL once the file is available.",
    ),
    Operation(
        "file",
        "get",
        "/files/{fileId}",
        "getFile",
        "A file, with a short-lived download URL",
        "files",
        {200: file_models.FileView},
        params=(FILE_ID,),
        errors=(404,),
        links={"DeleteFile": _link("deleteFile", fileId="$request.path.fileId")},
        description="The caller's file with a presigned download URL (valid for the tenant's download period) "
        "and, when made, its previews. Another user's or tenant's file is a 404.",
    ),
    Operation(
        "file",
        "get",
        "/files/{fileId}/print-check",
        "checkPrint",
        "Whether a file prints well at a size",
        "files",
        {200: file_models.PrintCheckView},
        params=(
            FILE_ID,
            *(
                Param(
                    name,
                    "query",
                    {"type": "number", "minimum": MIN_PRINT_MM, "maximum": MAX_PRINT_MM},
                    f"The print's {side} in millimetres",
                    required=True,
                    example=example,
                )
                for name, side, example in (("widthMm", "width", 150), ("heightMm", "height", 100))
            ),
        ),
        errors=(404, 409),
        description="The effective DPI of the file's pixels printed at widthMm x heightMm, and the verdict "
        "against the tenant's thresholds (default: good from 300 dpi, acceptable from 150). 409 while "
        "the file's pixel size is not known (not yet available).",
    ),
    Operation(
        "file",
        "delete",
        "/files/{fileId}",
        "deleteFile",
        "Delete a file",
        "files",
        {204: None},
        params=(FILE_ID,),
        errors=(404, 409),
        description="409 while a project, share copy, cart item or order still holds the file.",
    ),
    Operation(
        "file",
        "post",
        "/mobile-uploads",
        "createMobileUpload",
        "Open a mobile upload (QR code for a phone)",
        "mobile uploads",
        {201: file_models.MobileUploadCreated},
        body=file_models.MobileUploadRequest,
        body_required=False,
        body_example={"retention": "session"},
        errors=(409, 413),
        links={
            "ShowMobileUpload": _link("showMobileUpload", mobileUploadId="$response.body#/mobileUploadId"),
            "RevokeMobileUpload": _link("revokeMobileUpload", mobileUploadId="$response.body#/mobileUploadId"),
        },
        idempotent=True,
        description="Opens a link a phone can upload into, for the caller's session: the answer carries the phone's "
        "capability token (shown only here), the page URL with the token in its fragment, and the QR code of "
        "that URL as an inline SVG and as an `image/svg+xml` data URL (`qr.dataUrl`: the `src` of an `<img>`,"
        " no further request). The link accepts uploads until `expiresAt`.",
    ),
    Operation(
        "file",
        "get",
        "/mobile-uploads",
        "listMobileUploads",
        "The caller's mobile uploads, newest first",
        "mobile uploads",
        {200: file_models.MobileUploadPage},
        params=(LIMIT, CURSOR),
        description="Mobile uploads whose retention is not over, revoked ones included; the files of one: "
        "GET /mobile-uploads/{mobileUploadId}.",
    ),
    Operation(
        "file",
        "get",
        "/mobile-uploads/{mobileUploadId}",
        "showMobileUpload",
        "A mobile upload as the desktop sees it, with the files that arrived",
        "mobile uploads",
        {200: file_models.MobileUploadView},
        params=(MOBILE_UPLOAD_ID,),
        errors=(404,),
        description="The caller's mobile upload: its limits, whether it is revoked, and the files the phone has "
        "uploaded so far, each with its download URL. Another user's is a 404.",
    ),
    Operation(
        "file",
        "get",
        "/mobile",
        "mobileUploadPage",
        "The phone's upload page (no token needed)",
        "mobile uploads",
        {200: "text/html"},
        security=(),
        errors=(404,),
        description="The page the QR code opens by default (`<public base URL>/mobile#token=...`: the token stays "
        "in the fragment). Served with a strict Content-Security-Policy: scripts, styles and API "
        "calls from this API's origin only, uploads and thumbnails from the image bucket's.",
    ),
    Operation(
        "file",
        "get",
        "/mobile/{asset}",
        "mobileUploadPageAsset",
        "The phone page's script and style sheet",
        "mobile uploads",
        {200: ("text/javascript", "text/css", "text/html")},
        security=(),
        errors=(404,),
        params=(
            Param(
                "asset",
                "path",
                {"type": "string", "enum": ["app.js", "style.css", "index.html"]},
                "The asset's name",
                required=True,
                example="app.js",
            ),
        ),
        description="`app.js` (text/javascript) or `style.css` (text/css); any other name is a 404.",
    ),
    Operation(
        "file",
        "delete",
        "/mobile-uploads/{mobileUploadId}",
        "revokeMobileUpload",
        "Revoke a mobile upload",
        "mobile uploads",
        {204: None},
        params=(MOBILE_UPLOAD_ID,),
        errors=(404, 409),
        description="The phone's token stops working: its uploads are refused from now on (the files that arrived stay "
        "the caller's). 409 while a concurrent change won.",
    ),
    Operation(
        "file",
        "get",
        "/mobile-uploads/{mobileUploadId}/session",
        "phoneSession",
        "What the phone's page needs: limits, expiry, what it uploaded",
        "mobile uploads",
        {200: file_models.MobileUploadSession},
        params=(MOBILE_UPLOAD_ID,),
        errors=(404,),
        security=("mobileUploadToken", "bearerJwt"),
        description="Called by the phone with the mobile-upload token of this mobile upload.",
    ),
    # ---- Project API
    Operation(
        "project",
        "post",
        "/projects",
        "createProject",
        "Save a new project",
        "projects",
        {201: project_models.ProjectView},
        body=project_models.ProjectInput,
        body_example={"name": "Summer 2026", "productType": "photobook-a4", "document": {"pages": []}, "fileIds": []},
        errors=(409, 413, 422),
        response_headers={201: ETAG},
        description="`fileIds` are the caller's own available files; the project holds them.",
        links={
            "GetProject": _link("getProject", projectId="$response.body#/projectId"),
            "UpdateProject": _link(
                "updateProject", projectId="$response.body#/projectId", **{"header.If-Match": "$response.body#/version"}
            ),
            "CreateShare": _link("createShare", projectId="$response.body#/projectId"),
            "DeleteProject": _link("deleteProject", projectId="$response.body#/projectId"),
        },
        idempotent=True,
    ),
    Operation(
        "project",
        "get",
        "/projects",
        "listProjects",
        "The caller's projects and those they are a member of (role), last saved or joined first",
        "projects",
        {200: project_models.ProjectPage},
        params=(LIMIT, CURSOR),
        description="The caller's projects, last saved first, a page at a time (summaries: no document).",
    ),
    Operation(
        "project",
        "get",
        "/projects/{projectId}",
        "getProject",
        "A project: its document and a page of its files with download URLs",
        "projects",
        {200: project_models.ProjectView, 304: None},
        params=(PROJECT_ID, FILES_CURSOR, IF_NONE_MATCH),
        errors=(404, 409),
        response_headers={200: ETAG, 304: ETAG},
        description="The current version with its document and a page of its files. Answers `ETag` (the version); with "
        "`If-None-Match` naming it, a 304 with no body.",
    ),
    Operation(
        "project",
        "put",
        "/projects/{projectId}",
        "updateProject",
        "Save a new version of a project",
        "projects",
        {200: project_models.ProjectView},
        body=project_models.ProjectInput,
        body_example={"name": "Summer 2026", "productType": "photobook-a4", "document": {"pages": [1]}, "fileIds": []},
        params=(PROJECT_ID, IF_MATCH),
        errors=(403, 404, 409, 412, 413, 422, 428),
        response_headers={200: ETAG},
        description="Saves a new version. `If-Match` must name the current version (the ETag of the last read or "
        "save): 412 when another save came first, 428 without it. The owner or an editor (a commenter or viewer: "
        "403; anyone else, a removed member included: 404). A 412 carries the current version in "
        "`error.details.current` and its ETag: merge and retry with it. An editor adds their own available files; "
        "the project holds every file it uses whoever uploaded it.",
        links={"GetProject": _link("getProject", projectId="$response.body#/projectId")},
    ),
    Operation(
        "project",
        "delete",
        "/projects/{projectId}",
        "deleteProject",
        "Delete a project",
        "projects",
        {204: None},
        params=(PROJECT_ID,),
        errors=(404, 409),
        description="Deletes the project and releases its files (those no other holder keeps go with their retention). "
        "409 while a cart item or order holds it.",
    ),
    # ---- collaboration (docs/collaboration.md)
    Operation(
        "project",
        "post",
        "/projects/{projectId}/invites",
        "createInvite",
        "Invite someone of the tenant to the caller's project with a role",
        "members",
        {201: project_models.InviteCreated},
        body=project_models.InviteInput,
        body_example={"role": "editor", "expiresInDays": 7},
        params=(PROJECT_ID,),
        errors=(404, 409, 413),
        description="The owner only. The answer's token is shown once (only its hash is stored); the link works "
        "once, until it expires or is revoked, and only for users of the same tenant. " + COLLABORATION_NOTE,
        links={"AcceptInvite": _link("acceptInvite", token="$response.body#/token")},
        idempotent=True,
    ),
    Operation(
        "project",
        "get",
        "/projects/{projectId}/invites",
        "listInvites",
        "The caller's project's unused, unexpired invites",
        "members",
        {200: project_models.InvitePage},
        params=(PROJECT_ID, LIMIT, CURSOR),
        errors=(404,),
        description="The owner only; tokens are not shown again.",
    ),
    Operation(
        "project",
        "delete",
        "/projects/{projectId}/invites/{inviteId}",
        "revokeInvite",
        "Revoke an invite",
        "members",
        {204: None},
        params=(PROJECT_ID, INVITE_ID),
        errors=(404, 409),
        description="The owner only; its link answers 404 from then on.",
    ),
    Operation(
        "project",
        "post",
        "/invites/{token}/accept",
        "acceptInvite",
        "Join a project with the invite's role",
        "members",
        {201: project_models.MemberView},
        params=(INVITE_TOKEN,),
        errors=(404, 409),
        description="Uses the invite up. Unknown, used, revoked or expired links and links of another tenant are "
        "404; the owner, a member already or a project with 50 members is 409.",
        links={"GetProject": _link("getProject", projectId="$response.body#/projectId")},
    ),
    Operation(
        "project",
        "get",
        "/projects/{projectId}/members",
        "listMembers",
        "A project's members and their roles",
        "members",
        {200: project_models.MemberPage},
        params=(PROJECT_ID, LIMIT, CURSOR),
        errors=(404,),
        description="The owner and every member may look; anyone else gets 404.",
    ),
    Operation(
        "project",
        "put",
        "/projects/{projectId}/members/{userId}",
        "changeMemberRole",
        "Change a member's role",
        "members",
        {200: project_models.MemberView},
        body=project_models.RoleInput,
        body_example={"role": "commenter"},
        params=(PROJECT_ID, MEMBER_ID),
        errors=(403, 404, 409, 413),
        description="The owner only (a member: 403).",
    ),
    Operation(
        "project",
        "delete",
        "/projects/{projectId}/members/{userId}",
        "removeMember",
        "Remove a member, or leave (the caller's own user id)",
        "members",
        {204: None},
        params=(PROJECT_ID, MEMBER_ID),
        errors=(403, 404, 409),
        description="The owner removes anyone; a member removes only themselves; the owner cannot leave (409). "
        "The member's next request on the project is a 404; the files they added stay held by the project "
        "while a version uses them.",
    ),
    Operation(
        "project",
        "post",
        "/projects/{projectId}/comments",
        "addComment",
        "Comment on a project",
        "comments",
        {201: project_models.CommentView},
        body=project_models.CommentInput,
        body_example={"text": "Lovely cover!", "anchor": "page-1"},
        params=(PROJECT_ID,),
        errors=(403, 404, 409, 413),
        description="The owner, editors and commenters (a viewer: 403). Plain text of at most 4,096 bytes (413); "
        "at most 10,000 comments a project (409). " + COLLABORATION_NOTE,
    ),
    Operation(
        "project",
        "get",
        "/projects/{projectId}/comments",
        "listComments",
        "A project's comments, newest first",
        "comments",
        {200: project_models.CommentPage},
        params=(PROJECT_ID, LIMIT, CURSOR),
        errors=(404,),
        description="Any member may read them; anyone else gets 404.",
    ),
    Operation(
        "project",
        "put",
        "/projects/{projectId}/comments/{commentId}",
        "updateComment",
        "Edit a comment's text (its author) or resolve it (an editor or the owner)",
        "comments",
        {200: project_models.CommentView},
        body=project_models.CommentUpdate,
        body_example={"resolved": True},
        params=(PROJECT_ID, COMMENT_ID),
        errors=(403, 404, 409, 413),
        description="`text`: its author only; `resolved`: an editor or the owner (others: 403). Give at least one.",
    ),
    Operation(
        "project",
        "delete",
        "/projects/{projectId}/comments/{commentId}",
        "deleteComment",
        "Delete a comment (its author)",
        "comments",
        {204: None},
        params=(PROJECT_ID, COMMENT_ID),
        errors=(403, 404, 409),
        description="Its author only (others: 403); the project's comment count goes down by one.",
    ),
    Operation(
        "project",
        "get",
        "/projects/{projectId}/activity",
        "projectActivity",
        "What happened to a project: saves, joins, leaves, removals, role changes, comments",
        "comments",
        {200: project_models.ActivityPage},
        params=(PROJECT_ID, SINCE, LIMIT, CURSOR),
        errors=(404,),
        description="Oldest first, after `since` (or after the previous page: `cursor`). Any member may look.",
    ),
    Operation(
        "project",
        "post",
        "/projects/{projectId}/shares",
        "createShare",
        "Share a project by link",
        "shares",
        {201: project_models.ShareCreated},
        body=project_models.ShareInput,
        body_example={"mode": "copy", "expiresInDays": 7},
        params=(PROJECT_ID,),
        errors=(404, 409, 413),
        links={
            "ViewShare": _link("viewShare", token="$response.body#/token"),
            "CopyShare": _link("copyShare", token="$response.body#/token"),
            "RevokeShare": _link("revokeShare", projectId="$request.path.projectId", shareId="$response.body#/shareId"),
        },
        idempotent=True,
        description="A link to the project: `view` shows it, `copy` also lets another signed-in user make their "
        "own copy. The token is in the answer only (stored hashed).",
    ),
    Operation(
        "project",
        "get",
        "/projects/{projectId}/shares",
        "listShares",
        "A project's live shares",
        "shares",
        {200: project_models.SharePage},
        params=(PROJECT_ID, LIMIT, CURSOR),
        errors=(404,),
        description="The caller's own live project's unexpired shares, by id. A share's token is shown once, "
        "when it is created (only its hash is stored).",
    ),
    Operation(
        "project",
        "delete",
        "/projects/{projectId}/shares/{shareId}",
        "revokeShare",
        "Revoke a share link",
        "shares",
        {204: None},
        params=(PROJECT_ID, SHARE_ID),
        errors=(404, 409),
        description="The link stops working at once.",
    ),
    Operation(
        "project",
        "get",
        "/shares/{token}",
        "viewShare",
        "The shared project, as GET /projects/{projectId}",
        "shares",
        {200: project_models.SharedProjectView},
        params=(SHARE_TOKEN, FILES_CURSOR),
        errors=(404, 409),
        description="What the link shows: the project's current version, as GET /projects/{projectId} answers it,"
        " for any signed-in user of the tenant who has the token. 404 once revoked or expired.",
    ),
    Operation(
        "project",
        "post",
        "/shares/{token}/copies",
        "copyShare",
        "Make the caller an independent copy (mode copy)",
        "shares",
        {201: project_models.ProjectView},
        params=(SHARE_TOKEN,),
        errors=(404, 409, 422),
        response_headers={201: ETAG},
        links={"GetProject": _link("getProject", projectId="$response.body#/projectId")},
        idempotent=True,
        description="For a `copy` share: the caller gets an independent project of the shared version whose files it "
        "holds too (409 for a `view` share).",
    ),
    Operation(
        "project",
        "post",
        "/cart-items",
        "addCartItem",
        "Keep a cart item (and the project version it pins)",
        "cart items",
        {201: project_models.CartItemView},
        body=project_models.CartItemInput,
        body_example={"productSku": "print-10x15", "quantity": 2, "externalCartId": "cart-42"},
        errors=(404, 409, 413, 422),
        links={
            "DeleteCartItem": _link("deleteCartItem", cartItemId="$response.body#/cartItemId"),
            "PlaceOrder": {
                "operationId": "placeOrder",
                "requestBody": {
                    "cartItemIds": ["$response.body#/cartItemId"],
                    "externalOrderRef": "order-of-$response.body#/cartItemId",
                },
            },
        },
        idempotent=True,
        description="A product, and optionally the caller's project: the item pins the project's current version and "
        "holds its files until it is ordered, removed or expires.",
    ),
    Operation(
        "project",
        "get",
        "/cart-items",
        "listCartItems",
        "The caller's cart items, or an external cart's",
        "cart items",
        {200: project_models.CartItemPage},
        params=(
            LIMIT,
            CURSOR,
            Param(
                "externalCartId",
                "query",
                {"type": "string", "pattern": project_models.SAFE_REFERENCE},
                "Only the items of this external (shop) cart",
            ),
        ),
        description="The caller's cart items, or only those of one external (shop) cart with `externalCartId`, a "
        "page at a time.",
    ),
    Operation(
        "project",
        "delete",
        "/cart-items/{cartItemId}",
        "deleteCartItem",
        "Remove a cart item",
        "cart items",
        {204: None},
        params=(CART_ITEM_ID,),
        errors=(404, 409),
        description="Releases what the item pinned. 409 once an order froze it.",
    ),
    Operation(
        "project",
        "post",
        "/orders",
        "placeOrder",
        "Place an order from cart items",
        "orders",
        {201: project_models.OrderView, 200: project_models.OrderView},
        body=project_models.OrderInput,
        body_example={"cartItemIds": ["ci_0123456789abcdef"], "externalOrderRef": "shop-order-1001"},
        errors=(404, 409, 413, 422),
        description="201 when placed now; 200 with the same order when externalOrderRef was placed before. "
        "The order freezes its projects and files for the tenant's order retention.",
        links={
            "GetOrder": _link("getOrder", orderId="$response.body#/orderId"),
            "ResubmitOrder": _link("resubmitOrder", orderId="$response.body#/orderId"),
        },
        idempotent=True,
    ),
    Operation(
        "project",
        "get",
        "/orders",
        "listOrders",
        "The caller's orders, newest first",
        "orders",
        {200: project_models.OrderPage},
        params=(LIMIT, CURSOR),
        description="Placed orders within their retention, with their lines; the frozen projects of one: "
        "GET /orders/{orderId}.",
    ),
    Operation(
        "project",
        "get",
        "/orders/{orderId}",
        "getOrder",
        "An order with its frozen projects: documents by URL, a page of files",
        "orders",
        {200: project_models.OrderView},
        params=(ORDER_ID, FILES_CURSOR),
        errors=(404,),
        description="The caller's order: its lines and its frozen projects, each with a presigned URL of its "
        "document and a page of its files (`filesCursor` for the next).",
    ),
    Operation(
        "project",
        "post",
        "/orders/{orderId}/resubmissions",
        "resubmitOrder",
        "A manifest of presigned URLs for the print lab",
        "orders",
        {202: project_models.ResubmissionView},
        params=(ORDER_ID,),
        errors=(404, 409),
        idempotent=True,
        description="Makes the print lab's manifest of the order again (presigned URLs of every file and document) and "
        "sends it as an order.resubmitted event; 409 when the order's retention is over.",
    ),
    Operation(
        "project",
        "post",
        "/webhooks/endpoints",
        "registerWebhookEndpoint",
        "Register a webhook endpoint",
        "webhooks",
        {201: project_models.WebhookEndpointCreated},
        body=project_models.WebhookEndpointInput,
        body_example={"url": "https://shop.example/imagestore-hooks", "eventTypes": ["order.placed", "file.ready"]},
        errors=(409, 422),
        description="The URL must be https and resolve to public addresses only (checked again at every "
        "delivery); 422 otherwise. The answer carries the endpoint's `whsec_` signing secret, "
        "shown only here and on rotation. " + WEBHOOKS_SCOPE_NOTE,
        links={"GetWebhookEndpoint": _link("getWebhookEndpoint", endpointId="$response.body#/endpointId")},
        idempotent=True,
    ),
    Operation(
        "project",
        "get",
        "/webhooks/endpoints",
        "listWebhookEndpoints",
        "The tenant's webhook endpoints",
        "webhooks",
        {200: project_models.WebhookEndpointPage},
        description=WEBHOOKS_SCOPE_NOTE,
    ),
    Operation(
        "project",
        "get",
        "/webhooks/endpoints/{endpointId}",
        "getWebhookEndpoint",
        "A webhook endpoint",
        "webhooks",
        {200: project_models.WebhookEndpointView},
        params=(ENDPOINT_ID,),
        errors=(404,),
        description=WEBHOOKS_SCOPE_NOTE,
    ),
    Operation(
        "project",
        "delete",
        "/webhooks/endpoints/{endpointId}",
        "deleteWebhookEndpoint",
        "Delete a webhook endpoint (deliveries in flight are dropped)",
        "webhooks",
        {204: None},
        params=(ENDPOINT_ID,),
        errors=(404,),
        description=WEBHOOKS_SCOPE_NOTE,
    ),
    Operation(
        "project",
        "post",
        "/webhooks/endpoints/{endpointId}/enable",
        "enableWebhookEndpoint",
        "Deliver to a disabled endpoint again",
        "webhooks",
        {200: project_models.WebhookEndpointView},
        params=(ENDPOINT_ID,),
        errors=(404, 422),
        description=WEBHOOKS_SCOPE_NOTE,
    ),
    Operation(
        "project",
        "post",
        "/webhooks/endpoints/{endpointId}/secret-rotations",
        "rotateWebhookSecret",
        "A new signing secret; the previous one stays valid for 24 hours",
        "webhooks",
        {201: project_models.SecretRotationView},
        params=(ENDPOINT_ID,),
        errors=(404,),
        description="Until previousSecretExpiresAt every delivery carries two signatures (webhook-signature "
        "`v1,<new> v1,<old>`). " + WEBHOOKS_SCOPE_NOTE,
    ),
    Operation(
        "project",
        "get",
        "/webhooks/endpoints/{endpointId}/attempts",
        "listWebhookAttempts",
        "The endpoint's most recent delivery attempts (7 days)",
        "webhooks",
        {200: project_models.WebhookAttemptPage},
        params=(ENDPOINT_ID, LIMIT),
        errors=(404,),
        description="Newest first: event, attempt number, HTTP status or error, latency. " + WEBHOOKS_SCOPE_NOTE,
    ),
    Operation(
        "project",
        "post",
        "/webhooks/endpoints/{endpointId}/replays",
        "replayWebhookEvents",
        "Deliver one event, or the events of a time range, again (same event ids)",
        "webhooks",
        {202: project_models.WebhookReplayView},
        body=project_models.WebhookReplayInput,
        params=(ENDPOINT_ID,),
        body_example={"eventId": "evt_3f5b0c2a9d8e7f6a5b4c3d2e1f0a9b8c"},
        errors=(404,),
        description="`eventId`, or `since` (and `until`, default now): at most 100 events a call (`truncated`). "
        "Events are kept 30 days. " + WEBHOOKS_SCOPE_NOTE,
    ),
)

FILE_ID_EXAMPLE = "01m8nwkwqqb06a0sf8aw58z3pk"
PROJECT_ID_EXAMPLE = "01m8nx2c7d0hq3k9w5v1e8t6ra"
# Response examples, validated by their models when the document is built: an example that no longer fits
# its model fails `make openapi` (and the drift test) instead of showing clients a shape the API left.
RESPONSE_EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    file_models.UploadTicket: {
        "fileId": FILE_ID_EXAMPLE,
        "maxBytes": 52_428_800,
        "upload": {
            "method": "POST",
            "url": "https://imagestore-dev-images-eu-west-1.s3.amazonaws.com/",
            "fields": {"key": "staging/...", "Content-Type": "image/jpeg", "policy": "...", "x-amz-signature": "..."},
            "headers": {},
            "expiresAt": "2026-11-30T10:15:00Z",
        },
    },
    file_models.FileView: {
        "fileId": FILE_ID_EXAMPLE,
        "filename": "photo.jpg",
        "contentType": "image/jpeg",
        "sizeBytes": 2_345_678,
        "status": "available",
        "retention": "session",
        "width": 4000,
        "height": 3000,
        "createdAt": "2026-11-30T10:00:00Z",
        "expiresAt": "2026-11-30T16:00:00Z",
        "holdCount": 1,
        "mobileUploadId": None,
        "downloadUrl": "https://imagestore-dev-images-eu-west-1.s3.amazonaws.com/...",
        "previewStatus": "ready",
        "takenAt": "2026-07-14T18:03:11Z",
        "previews": {"thumb": {"url": "https://...", "width": 320, "height": 240, "contentType": "image/webp"}},
    },
    file_models.PrintCheckView: {"dpi": 677.3, "verdict": "good"},
    project_models.ShareCreated: {
        "shareId": "01m8nx5q2m7v0c4d9e3f6g8h1j",
        "token": "...",
        "url": "https://shop.example/share#...",
        "mode": "copy",
        "expiresAt": "2026-12-07T10:00:00Z",
    },
    project_models.CartItemView: {
        "cartItemId": "01m8nx7a1b2c3d4e5f6g7h8j9k",
        "userId": "u1",
        "productSku": "print-10x15",
        "quantity": 2,
        "projectId": PROJECT_ID_EXAMPLE,
        "projectVersion": 3,
        "externalCartId": "cart-42",
        "fileCount": 12,
        "createdAt": "2026-11-30T10:00:00Z",
        "expiresAt": "2026-12-14T10:00:00Z",
    },
}


DOCUMENT_OPERATIONS = tuple(
    Operation(
        service,
        "get",
        "/openapi.json",
        f"openApiDocument{service.title()}",
        "This OpenAPI document (no token needed)",
        "documents",
        {200: "application/json"},
        security=(),
        errors=(429,),
        description="The OpenAPI 3.1 document of this API, generated from the handlers' models (`make openapi`). "
        "No token needed.",
    )
    for service in SERVICES
)


def operations(service: str | None = None) -> list[Operation]:
    """The operations of one REST API (or of all, merged: one /openapi.json)."""
    if service is None:
        return [*OPERATIONS, DOCUMENT_OPERATIONS[0]]
    return [op for op in (*OPERATIONS, *DOCUMENT_OPERATIONS) if op.service == service]


def _schemas(
    ops: list[Operation],
    extra_outputs: tuple[type[BaseModel], ...] = (),
) -> tuple[dict[tuple[type[BaseModel], str], str], dict[str, Any]]:
    """Each (model, mode)'s $ref and the components; response models list every field as required
    (their dump() always writes every field, null included)."""
    inputs = {op.body for op in ops if op.body is not None}
    outputs = {m for op in ops for m in op.responses.values() if isinstance(m, type)} | set(extra_outputs)
    pairs: list[tuple[type[BaseModel], Any]] = [(m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)]
    pairs += [(m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)]
    for model, _ in pairs:
        model.model_rebuild()
    refs, top = models_json_schema(pairs, ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})
    for schema in defs.values():  # "Fileid" and the like: titles pydantic derives from the aliases say nothing
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
    input_names = _reachable([refs[(m, "validation")]["$ref"] for m in inputs], defs)
    for name in _reachable([refs[(m, "serialization")]["$ref"] for m in outputs], defs) - input_names:
        schema = defs[name]
        if "properties" in schema:
            schema["required"] = list(schema["properties"])
    return {
        (model, mode): value["$ref"]
        for (model, mode), value in refs.items()  # type: ignore[misc]
        if isinstance(model, type) and issubclass(model, BaseModel)
    }, defs


def _reachable(refs: list[str], defs: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = [r.rsplit("/", 1)[-1] for r in refs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [r.rsplit("/", 1)[-1] for r in _refs_in(defs[name])]
    return seen


def _refs_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs_in(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs_in(value)]
    return []


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "description": "What went wrong",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable, machine-readable: bad_request, "
                    "invalid_cursor, unauthorized, forbidden, not_found, conflict, save_in_progress, "
                    "transaction_conflict, precondition_failed, payload_too_large, unsupported_media_type, "
                    "unprocessable, idempotency_key_reused, idempotency_key_in_use, precondition_required, "
                    "throttled, too_many_requests",
                    "example": "not_found",
                },
                "message": {"type": "string", "description": "For people; may change", "example": "no such file"},
                "requestId": {
                    "type": "string",
                    "description": "The request's id, as the X-Amzn-RequestId "
                    "header and the logs carry it: quote it when reporting a problem",
                    "example": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                },
                "details": {
                    "type": "object",
                    "description": "Extra facts, e.g. `problems` for bad fields",
                    "additionalProperties": True,
                },
            },
        }
    },
}


def _parameter(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": param.name,
        "in": param.where,
        "description": param.description,
        "required": param.required,
        "schema": param.schema,
    }
    if param.example is not None:
        out["example"] = param.example
    return out


def _operation(op: Operation, refs: dict[tuple[type[BaseModel], str], str]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        out["description"] = op.description
    params = (*op.params, IDEMPOTENCY_KEY) if op.idempotent else op.params
    if params:
        out["parameters"] = [_parameter(p) for p in params]
    if op.body is not None:
        media: dict[str, Any] = {"schema": {"$ref": refs[(op.body, "validation")]}}
        if op.body_example is not None:
            media["example"] = op.body_example
        out["requestBody"] = {"required": op.body_required, "content": {"application/json": media}}
    out["security"] = [{name: []} for name in op.security]
    responses: dict[str, Any] = {}
    for status, model in sorted(op.responses.items()):
        response: dict[str, Any] = {"description": _success(status)}
        if isinstance(model, type):
            body: dict[str, Any] = {"schema": {"$ref": refs[(model, "serialization")]}}
            if model in RESPONSE_EXAMPLES:
                body["example"] = model.model_validate(RESPONSE_EXAMPLES[model]).model_dump(mode="json", by_alias=True)
            response["content"] = {"application/json": body}
        elif model == "application/json":
            response["content"] = {model: {"schema": {"type": "object"}}}
        elif isinstance(model, str) and model.startswith("text/"):
            response["content"] = {model: {"schema": {"type": "string"}}}
        elif isinstance(model, tuple):
            response["content"] = {media_type: {"schema": {"type": "string"}} for media_type in model}
        headers = {
            **op.response_headers.get(status, {}),
            **(REPLAYED if op.idempotent else {}),
            **(RATE_LIMIT_HEADERS if op.security else {}),
        }
        if headers:
            response["headers"] = headers
        if op.links and status in (200, 201):
            response["links"] = op.links
        responses[str(status)] = response
    statuses = sorted(
        set(op.errors) | (set(AUTHORIZED_ERRORS) if op.security else set()) | ({409, 422} if op.idempotent else set())
    )
    for status in statuses:
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    out["responses"] = responses
    return out


# The events a registered endpoint receives (POST, JSON body, Standard Webhooks headers).
WEBHOOK_EVENTS = {
    "order.placed": "An order was placed (also sent again, with the same id, when the order is placed again "
    "with the same externalOrderRef)",
    "order.resubmitted": "An order's manifest was made again for the print lab",
    "file.ready": "A file's previews are made (it is available and shows previews)",
    "file.refused": "Uploaded bytes were refused (not the declared type, too many pixels, cut short)",
    "mobile_upload.file_added": "A phone added a file to a mobile upload",
    "project.deleted": "A project was deleted by its owner",
}
SIGNATURE_HEADERS = (
    ("webhook-id", "The event's id (the same on every retry and replay: deduplicate on it)"),
    ("webhook-timestamp", "Seconds since the epoch when this attempt was signed"),
    (
        "webhook-signature",
        "Space-separated `v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}.{body}` "
        "with the endpoint's whsec_ secret; two during a secret rotation",
    ),
)


def _webhook(event_type: str, summary: str, refs: dict[tuple[type[BaseModel], str], str]) -> dict[str, Any]:
    return {
        "post": {
            "operationId": "webhook" + "".join(p.title() for p in event_type.replace("_", ".").split(".")),
            "summary": summary,
            "tags": ["webhooks"],
            # Sent by imagestore, not called by a client: no bearer token; the Standard Webhooks signature
            # headers authenticate it to the receiver.
            "security": [],
            "description": "Sent to every enabled endpoint of the tenant subscribed to this type, signed as Standard "
            "Webhooks, at least once: a 2xx answer within 10 s acknowledges it; anything else is "
            "retried with exponential backoff for 33 hours (10 attempts). Redirects are not followed.",
            "parameters": [
                {"name": name, "in": "header", "required": True, "description": text, "schema": {"type": "string"}}
                for name, text in SIGNATURE_HEADERS
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": refs[(EVENT_MODELS[event_type], "serialization")]}}
                },
            },
            "responses": {"2XX": {"description": "Received; any other status (or none within 10 s) is retried"}},
        }
    }


def _success(status: int) -> str:
    return {
        200: "OK",
        201: "Created",
        202: "Accepted",
        204: "No content",
        304: "Not modified: If-None-Match names the current version",
    }[status]


def build(service: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of one REST API, or of every API (service None)."""
    ops = operations(service)
    events = WEBHOOK_EVENTS if service in (None, "project") else {}
    refs, defs = _schemas(ops, tuple(EVENT_MODELS[t] for t in events))
    paths: dict[str, dict[str, Any]] = {}
    for op in sorted(ops, key=lambda o: (o.path, o.method)):
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    used_errors = sorted(
        {
            int(r["$ref"].rsplit("Error", 1)[1])
            for item in paths.values()
            for o in item.values()
            for r in o["responses"].values()
            if "$ref" in r
        }
    )
    servers: list[dict[str, Any]] = [{"url": "http://127.0.0.1:3000", "description": "The local stack (make run)"}]
    if service is not None:
        servers.append(
            {
                "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
                "description": f"A deployed stage of the {service} service",
                "variables": {
                    "restApiId": {"default": "restApiId"},
                    "region": {"default": "eu-west-1"},
                    "stage": {"default": "dev"},
                },
            }
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLES[service],
            "version": VERSION,
            # The project's own licence (package.json: UNLICENSED) and who answers for the API.
            "license": {"name": "Proprietary (not licensed for use outside the imagestore project)"},
            "contact": {"name": "The imagestore maintainers (issues of the imagestore repository)"},
            "description": (
                "Serverless image storage for white-label photo-product shops. Every call but this document "
                "carries `Authorization: Bearer <JWT>` (tid, sub, sid, optional scope). Errors are JSON "
                '`{"error": {"code", "message", "details"?}}`. Lists take `limit` and an opaque '
                "`cursor` and answer `items` and `nextCursor` (null on the last page). Timestamps are ISO "
                f"8601 UTC. Request bodies are at most {MAX_BODY_BYTES} bytes. Generated by deploy/openapi.py "
                "from the handlers' pydantic models."
            ),
        },
        "servers": servers,
        "tags": [{"name": tag, "description": TAG_DESCRIPTIONS[tag]} for tag in dict.fromkeys(op.tag for op in ops)],
        "paths": paths,
        **(
            {"webhooks": {event_type: _webhook(event_type, summary, refs) for event_type, summary in events.items()}}
            if events
            else {}
        ),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **dict(sorted(defs.items()))},
            "responses": {
                f"Error{status}": {
                    "description": ERROR_DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    **(
                        {"headers": copy.deepcopy({**RETRY_AFTER, **(RATE_LIMIT_HEADERS if status == 429 else {})})}
                        if status in (409, 429, 503)
                        else {}
                    ),
                }
                for status in used_errors
            },
            "securitySchemes": {  # those the document's operations use
                name: scheme for name, scheme in SECURITY_SCHEMES.items() if any(name in op.security for op in ops)
            },
        },
    }


SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerJwt": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A shop's JWT: HS256 or RS256, iss/aud/exp checked; claims tid "
        "(tenant), sub (user), sid (browser session), optional scope.",
    },
    "mobileUploadToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A phone's mobile-upload capability token (from POST "
        "/mobile-uploads), sent as the bearer token: it allows "
        "only uploads into that mobile upload and its session.",
    },
}


def document_paths() -> dict[str | None, Path]:
    """Where each committed document lives."""
    return {**{s: ROOT / "services" / s / "openapi.json" for s in SERVICES}, None: ROOT / "docs" / "openapi.json"}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed document is out of date")
    args = parser.parse_args(argv)
    stale = []
    for service, path in document_paths().items():
        text = render(build(service))
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run `make openapi`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
