"""Mobile uploads in-process against moto: the desktop opens a link, the phone's capability token
passes the authorizer and uploads within its limits, the desktop sees the files arrive."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from imagestore import ids
from imagestore.auth import Principal
from imagestore.data import factory
from imagestore.models.files import Retention
from imagestore.models.mobile_uploads import MobileUploadRecord
from tests.conftest import Aws
from tests.service.test_file_api import complete, post_bytes, request_upload
from tests.support.events import LambdaContext, api_event, call
from tests.support.images import jpeg
from tests.support.tokens import mint

ALICE = Principal("shop-a", "alice", "s1")
BOB = Principal("shop-a", "bob", "s9")
MALLORY = Principal("shop-b", "alice", "s1")  # same user id, other tenant
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/{method}/{path}"
# A phone uploads one by one, in batches or in parts (each ticket counted against its mobile upload).
PHONE_ROUTES = {
    f"arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/{route}"
    for route in (
        "POST/uploads",
        "POST/uploads/*/complete",
        "POST/upload-batches",
        "POST/upload-batches/complete",
        "POST/multipart-uploads",
        "POST/multipart-uploads/*/parts",
        "GET/multipart-uploads/*/parts",
        "POST/multipart-uploads/*/complete",
        "DELETE/multipart-uploads/*",
        "GET/mobile-uploads/*/session",
    )
}


def open_mobile_upload(
    principal: Principal = ALICE,
    *,
    retention: Retention = Retention.SESSION,
    max_files: int = 50,
    max_bytes: int = 10**9,
    now: int | None = None,
    secret: str = "s" * 43,
) -> MobileUploadRecord:
    """A mobile upload put straight into the table (for tests whose subject is not its creation)."""
    now = now or int(time.time())
    record = MobileUploadRecord(
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        session_id=principal.session_id,
        mobile_upload_id=ids.new_id(),
        token_hash=ids.hash_token(secret),
        retention=retention,
        created_at=now,
        link_expires_at=now + 3600,
        expires_at=now + 3600 + 6 * 3600,
        max_files=max_files,
        max_bytes=max_bytes,
    )
    factory.mobile_upload_store().add_mobile_upload(record)
    return record


def phone_of(record: MobileUploadRecord) -> Principal:
    """The principal the authorizer derives from the record's token."""
    return Principal(record.tenant_id, record.user_id, record.session_id, (f"mobile-upload:{record.mobile_upload_id}",))


@pytest.fixture
def handlers(aws: Aws) -> dict[str, Any]:
    from file_service.handlers import authorizer, files, mobile_uploads, uploads

    return {
        "mobile": mobile_uploads.handler,
        "uploads": uploads.handler,
        "files": files.handler,
        "authorizer": authorizer.handler,
    }


def create(handler: Any, principal: Principal = ALICE, retention: str = "session") -> tuple[int, Any]:
    event = api_event("POST", "/mobile-uploads", principal=principal, body={"retention": retention})
    return call(handler, event)


def mobile_get(handler: Any, mobile_upload_id: str, principal: Principal = ALICE, suffix: str = "") -> tuple[int, Any]:
    event = api_event(
        "GET",
        "/mobile-uploads/{mobileUploadId}" + suffix,
        principal=principal,
        path_params={"mobileUploadId": mobile_upload_id},
    )
    return call(handler, event)


def authorize(handler: Any, token: str, method: str = "POST", path: str = "uploads") -> dict[str, Any]:
    """The authorizer's answer to a REQUEST event carrying `Authorization: Bearer token`."""
    event = {
        "type": "REQUEST",
        "methodArn": METHOD_ARN.format(method=method, path=path),
        "resource": f"/{path}",
        "path": f"/{path}",
        "httpMethod": method,
        "headers": {"Authorization": f"Bearer {token}"},
        "multiValueHeaders": {"Authorization": [f"Bearer {token}"]},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "path": f"/prod/{path}",
            "accountId": "123456789012",
            "resourceId": "x",
            "stage": "prod",
            "requestId": "r1",
            "identity": {"sourceIp": "127.0.0.1"},
            "resourcePath": f"/{path}",
            "httpMethod": method,
            "apiId": "abc123",
        },
    }
    return handler(event, LambdaContext())


def phone_upload(handlers: dict[str, Any], phone: Principal, data: bytes) -> dict[str, Any]:
    status, ticket = request_upload(handlers["uploads"], phone, size=len(data))
    assert status == 201, ticket
    assert post_bytes(ticket, data) == 204
    status, body = complete(handlers["uploads"], ticket["fileId"], phone)
    assert status == 200, body
    return body


# --- the desktop opens a mobile upload ---------------------------------------------------------


def test_creating_returns_a_token_its_page_url_and_qr_code_and_stores_only_the_hash(
    aws: Aws, handlers: dict[str, Any]
) -> None:
    status, body = create(handlers["mobile"], retention="extended")

    assert status == 201, body
    upload_id = body["mobileUploadId"]
    prefix, tenant, token_upload_id, secret = body["token"].split(".")
    assert (prefix, tenant, token_upload_id) == ("mu1", "shop-a", upload_id)
    assert len(base64.urlsafe_b64decode(secret + "=")) * 8 >= 128
    assert body["url"] == f"http://127.0.0.1:3000/mobile#token={body['token']}"
    assert body["qr"]["svg"].startswith("<svg") and "</svg>" in body["qr"]["svg"]
    # An <img src> as it is: the same code as the inline SVG (tests/unit/test_qr.py, drawn by a browser in
    # tests/e2e/test_mobile_browser.py).
    assert body["qr"]["dataUrl"].startswith("data:image/svg+xml;charset=utf-8,%3Csvg")
    assert set(body["qr"]) == {"svg", "dataUrl"}
    assert body["retention"] == "extended"
    item = aws.item(f"T#shop-a#MU#{upload_id}", "META")
    assert item is not None and item["entity"] == "mobile_upload"
    assert item["tokenHash"] == ids.hash_token(secret)
    assert secret not in json.dumps(item, default=str)
    assert item["userId"] == "alice" and item["sessionId"] == "s1"
    assert item["linkExpiresAt"] - item["createdAt"] == 3600


def test_the_page_url_follows_the_tenants_template(
    aws: Aws, handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagestore.config import get_settings

    monkeypatch.setenv(
        "IMAGESTORE_TENANT_SETTINGS",
        json.dumps(
            {
                "shop-a": {
                    "mobile_upload_url_template": "https://shop.example/upload#token={token}",
                    "mobile_upload_link_seconds": 600,
                }
            }
        ),
    )
    get_settings.cache_clear()

    status, body = create(handlers["mobile"])

    assert status == 201
    assert body["url"] == f"https://shop.example/upload#token={body['token']}"
    item = aws.item(f"T#shop-a#MU#{body['mobileUploadId']}", "META")
    assert item is not None and item["linkExpiresAt"] - item["createdAt"] == 600


def test_a_phone_token_cannot_open_another_mobile_upload(aws: Aws, handlers: dict[str, Any]) -> None:
    status, body = create(handlers["mobile"], phone_of(open_mobile_upload()))
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_an_unknown_retention_is_a_400(aws: Aws, handlers: dict[str, Any]) -> None:
    status, body = create(handlers["mobile"], retention="forever")
    assert status == 400 and body["error"]["code"] == "bad_request"


# --- the authorizer and the phone's token -------------------------------------------------------


def test_a_valid_phone_token_is_allowed_only_its_upload_routes(aws: Aws, handlers: dict[str, Any]) -> None:
    _, body = create(handlers["mobile"])

    answer = authorize(handlers["authorizer"], body["token"])

    (statement,) = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert set(statement["Resource"]) == PHONE_ROUTES
    assert answer["context"] == {
        "tenantId": "shop-a",
        "userId": "alice",
        "sessionId": "s1",
        "scope": f"mobile-upload:{body['mobileUploadId']}",
    }


def test_a_user_jwt_still_passes_the_authorizer(aws: Aws, handlers: dict[str, Any]) -> None:
    answer = authorize(handlers["authorizer"], mint(), "GET", "files")
    assert answer["policyDocument"]["Statement"][0]["Resource"] == [
        "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*"
    ]


def test_a_revoked_phone_token_is_refused(aws: Aws, handlers: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    _, body = create(handlers["mobile"])
    event = api_event(
        "DELETE",
        "/mobile-uploads/{mobileUploadId}",
        principal=ALICE,
        path_params={"mobileUploadId": body["mobileUploadId"]},
    )
    assert call(handlers["mobile"], event)[0] == 204

    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(handlers["authorizer"], body["token"])
    assert "revoked" in caplog.text
    assert aws.item(f"T#shop-a#MU#{body['mobileUploadId']}", "META")["revoked"] is True  # type: ignore[index]


def test_an_expired_phone_token_is_refused(
    aws: Aws, handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, body = create(handlers["mobile"])
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", "3601")

    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(handlers["authorizer"], body["token"])
    assert "expired" in caplog.text


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),  # forged secret
        lambda t: t.replace("mu1.shop-a.", "mu1.shop-b.", 1),  # the same upload asked for in another tenant
        lambda t: "mu1." + ".".join(t.split(".")[1:3]),  # no secret
        lambda t: t.replace(t.split(".")[2], ids.new_id()),  # another (unknown) mobile upload
        lambda t: "mu1.shop#a." + ".".join(t.split(".")[2:]),  # a key separator in the tenant
    ],
)
def test_forged_phone_tokens_are_refused(aws: Aws, handlers: dict[str, Any], forge: Any) -> None:
    _, body = create(handlers["mobile"])
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(handlers["authorizer"], forge(body["token"]))


# --- the phone uploads, the desktop sees the files ---------------------------------------------


def test_phone_uploads_arrive_in_the_desktop_session_with_the_mobile_uploads_retention(
    aws: Aws, handlers: dict[str, Any]
) -> None:
    _, created = create(handlers["mobile"], retention="extended")
    phone = Principal.from_context(authorize(handlers["authorizer"], created["token"])["context"])
    before = int(time.time())

    first = phone_upload(handlers, phone, jpeg((64, 48)))
    second = phone_upload(handlers, phone, jpeg((32, 32)))

    item = aws.item("T#shop-a#U#alice", f"FILE#{first['fileId']}")
    assert item is not None
    assert item["mobileUploadId"] == created["mobileUploadId"] and item["sessionId"] == "s1"
    assert item["retention"] == "extended" and item["expiresAt"] >= before + 30 * 86400
    status, view = mobile_get(handlers["mobile"], created["mobileUploadId"])
    assert status == 200, view
    assert [f["fileId"] for f in view["files"]] == [first["fileId"], second["fileId"]]
    assert all(f["status"] == "available" and f["downloadUrl"] for f in view["files"])
    assert view["fileCount"] == 2 and view["revoked"] is False and view["retention"] == "extended"
    status, session = mobile_get(handlers["mobile"], created["mobileUploadId"], phone, "/session")
    assert status == 200, session
    assert [f["fileId"] for f in session["files"]] == [first["fileId"], second["fileId"]]
    assert all(f["downloadUrl"] is None for f in session["files"])
    assert session["maxFiles"] == 50 and session["fileCount"] == 2
    assert session["uploadedBytes"] == first["sizeBytes"] + second["sizeBytes"]


def test_listing_a_mobile_upload_costs_one_get_and_one_query(aws: Aws, handlers: dict[str, Any]) -> None:
    record = open_mobile_upload()
    for _ in range(3):
        phone_upload(handlers, phone_of(record), jpeg())
    aws.requests.reset()

    status, view = mobile_get(handlers["mobile"], record.mobile_upload_id)

    assert status == 200 and len(view["files"]) == 3
    assert {k: v for k, v in aws.requests.calls.items() if k.startswith("dynamodb.")} == {
        "dynamodb.GetItem": 1,
        "dynamodb.Query": 1,
    }


def test_a_full_mobile_upload_answers_409(aws: Aws, handlers: dict[str, Any]) -> None:
    phone = phone_of(open_mobile_upload(max_files=2))
    for _ in range(2):
        assert request_upload(handlers["uploads"], phone)[0] == 201

    status, body = request_upload(handlers["uploads"], phone)

    assert status == 409 and body["error"]["code"] == "mobile_upload_full"


def test_bytes_over_the_mobile_uploads_limit_answer_413(aws: Aws, handlers: dict[str, Any]) -> None:
    record = open_mobile_upload(max_bytes=1000)
    phone = phone_of(record)
    assert request_upload(handlers["uploads"], phone, size=600)[0] == 201

    status, body = request_upload(handlers["uploads"], phone, size=401)

    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert request_upload(handlers["uploads"], phone, size=400)[0] == 201
    item = aws.item(f"T#shop-a#MU#{record.mobile_upload_id}", "META")
    assert item is not None and item["fileCount"] == 2 and item["uploadedBytes"] == 1000


def test_a_refused_file_type_takes_no_slot(aws: Aws, handlers: dict[str, Any]) -> None:
    record = open_mobile_upload(max_files=1)
    phone = phone_of(record)
    status, body = request_upload(handlers["uploads"], phone, filename="a.gif", content_type="image/gif")
    assert status == 415, body
    assert request_upload(handlers["uploads"], phone)[0] == 201


def test_after_revoke_the_phone_can_neither_request_nor_complete(aws: Aws, handlers: dict[str, Any]) -> None:
    """API Gateway may still hold the authorizer's cached Allow: the handlers check again."""
    record = open_mobile_upload()
    phone = phone_of(record)
    status, ticket = request_upload(handlers["uploads"], phone, size=len(jpeg()))
    assert status == 201
    post_bytes(ticket, jpeg())
    factory.mobile_upload_store().revoke(record)

    status, body = request_upload(handlers["uploads"], phone)
    assert status == 401 and "revoked" in body["error"]["message"]
    status, body = complete(handlers["uploads"], ticket["fileId"], phone)
    assert status == 401 and "revoked" in body["error"]["message"]
    status, body = mobile_get(handlers["mobile"], record.mobile_upload_id, phone, "/session")
    assert status == 401 and "revoked" in body["error"]["message"]


def test_after_the_link_window_the_phone_cannot_start_an_upload(
    aws: Aws, handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = phone_of(open_mobile_upload())
    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", "3601")

    status, body = request_upload(handlers["uploads"], phone)

    assert status == 401 and "expired" in body["error"]["message"]


def test_the_phone_cannot_complete_files_outside_its_mobile_upload(aws: Aws, handlers: dict[str, Any]) -> None:
    phone = phone_of(open_mobile_upload())
    status, ticket = request_upload(handlers["uploads"], ALICE)
    assert status == 201
    assert complete(handlers["uploads"], ticket["fileId"], phone)[0] == 404


# --- who may see what ----------------------------------------------------------------------------


@pytest.mark.parametrize("stranger", [BOB, MALLORY])
def test_other_users_and_tenants_get_404(aws: Aws, handlers: dict[str, Any], stranger: Principal) -> None:
    record = open_mobile_upload()
    assert mobile_get(handlers["mobile"], record.mobile_upload_id, stranger)[0] == 404
    event = api_event(
        "DELETE",
        "/mobile-uploads/{mobileUploadId}",
        principal=stranger,
        path_params={"mobileUploadId": record.mobile_upload_id},
    )
    assert call(handlers["mobile"], event)[0] == 404
    assert factory.mobile_upload_store().get_mobile_upload("shop-a", record.mobile_upload_id).revoked is False  # type: ignore[union-attr]


def test_a_mobile_upload_past_its_retention_is_gone_before_the_sweep_removes_it(
    aws: Aws, handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = open_mobile_upload()
    assert mobile_get(handlers["mobile"], record.mobile_upload_id)[0] == 200

    monkeypatch.setenv("IMAGESTORE_CLOCK_OFFSET_SECONDS", str(record.expires_at - time.time() + 1))

    status, body = mobile_get(handlers["mobile"], record.mobile_upload_id)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert aws.item(f"T#shop-a#MU#{record.mobile_upload_id}", "META") is not None  # not swept yet


def test_the_session_route_is_the_phones_only(aws: Aws, handlers: dict[str, Any]) -> None:
    record = open_mobile_upload()
    other = open_mobile_upload()
    assert mobile_get(handlers["mobile"], record.mobile_upload_id, ALICE, "/session")[0] == 403
    assert mobile_get(handlers["mobile"], other.mobile_upload_id, phone_of(record), "/session")[0] == 404
    assert mobile_get(handlers["mobile"], record.mobile_upload_id, phone_of(record))[0] == 403


def test_a_phones_batch_counts_each_ticket_against_its_mobile_upload(aws: Aws, handlers: dict[str, Any]) -> None:
    phone = phone_of(open_mobile_upload(max_files=2))
    files = [{"filename": f"p{n}.jpg", "contentType": "image/jpeg", "sizeBytes": 1000} for n in range(3)]

    status, body = call(
        handlers["uploads"], api_event("POST", "/upload-batches", principal=phone, body={"files": files})
    )

    assert status == 200
    assert [item["status"] for item in body["items"]] == [201, 201, 409]
    assert body["items"][2]["error"]["code"] == "mobile_upload_full"
    status, body = call(
        handlers["uploads"],
        api_event(
            "POST",
            "/multipart-uploads",
            principal=phone,
            body={"filename": "big.jpg", "contentType": "image/jpeg", "sizeBytes": 20 * 1024 * 1024},
        ),
    )
    assert status == 409 and body["error"]["code"] == "mobile_upload_full"
