"""What the local stack gives SeaweedFS: its identity file and bucket CORS rules it can match."""

from __future__ import annotations

from imagestore_local.seaweedfs import identity_config, local_cors_rules

LOCAL = ["http://127.0.0.1:3000", "http://localhost:3000"]


def test_port_wildcards_become_the_stack_origins_they_match() -> None:
    rules = [
        {
            "AllowedMethods": ["GET", "POST"],
            "AllowedOrigins": [
                "http://localhost:*",
                "http://127.0.0.1:*",
                "https://*.shop.example",
                "https://a.example",
            ],
            "AllowedHeaders": ["*"],
            "ExposedHeaders": ["ETag"],
            "MaxAge": "3000",
        }
    ]

    assert local_cors_rules(rules, LOCAL) == [
        {
            "AllowedMethods": ["GET", "POST"],
            "AllowedOrigins": [
                "http://localhost:3000",
                "http://127.0.0.1:3000",
                "https://*.shop.example",
                "https://a.example",
            ],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3000,
        }
    ]


def test_a_rule_left_without_origins_is_dropped() -> None:
    rules = [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["https://shop-*.example"]},
        {"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]},
    ]

    assert local_cors_rules(rules, LOCAL) == [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]}]


def test_the_identity_holds_the_stack_credentials() -> None:
    identity = identity_config("AKID", "SECRET")["identities"][0]  # type: ignore[index]

    assert identity["credentials"] == [{"accessKey": "AKID", "secretKey": "SECRET"}]
    assert {"Read", "Write", "List"} <= set(identity["actions"])


def test_the_s3_front_names_the_operation_that_writes_a_key() -> None:
    from imagestore_local.s3_front import operation_of

    form = (
        b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nt1/u1/${filename}\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a b.jpg"\r\n\r\nxx\r\n--b--\r\n'
    )
    post = {"Content-Type": "multipart/form-data; boundary=b"}

    assert operation_of("PUT", "/bkt/a/b.jpg", {}, b"x") == ("bkt", "a/b.jpg", "ObjectCreated:Put")
    assert operation_of("PUT", "/bkt/a%20b", {"x-amz-copy-source": "bkt/x"}, b"") == (
        "bkt",
        "a b",
        "ObjectCreated:Copy",
    )
    assert operation_of("POST", "/bkt/big?uploadId=1", {}, b"<x/>") == (
        "bkt",
        "big",
        "ObjectCreated:CompleteMultipartUpload",
    )
    assert operation_of("POST", "/bkt", post, form) == ("bkt", "t1/u1/a b.jpg", "ObjectCreated:Post")
    assert operation_of("PUT", "/bkt/big?partNumber=1&uploadId=1", {}, b"x") is None
    assert operation_of("POST", "/bkt?delete", {"Content-Type": "application/xml"}, b"<Delete/>") is None
    assert operation_of("GET", "/bkt/a", {}, b"") is None
