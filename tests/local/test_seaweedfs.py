"""What the local stack gives SeaweedFS: its identity file and bucket CORS rules it can match."""

from __future__ import annotations

from imagestore_local.seaweedfs import identity_config, local_cors_rules

LOCAL = ["http://127.0.0.1:3000", "http://localhost:3000"]


def test_port_wildcards_become_the_stack_origins_they_match() -> None:
    rules = [{
        "AllowedMethods": ["GET", "POST"],
        "AllowedOrigins": ["http://localhost:*", "http://127.0.0.1:*", "https://*.shop.example", "https://a.example"],
        "AllowedHeaders": ["*"],
        "ExposedHeaders": ["ETag"],
        "MaxAge": "3000",
    }]

    assert local_cors_rules(rules, LOCAL) == [{
        "AllowedMethods": ["GET", "POST"],
        "AllowedOrigins": ["http://localhost:3000", "http://127.0.0.1:3000", "https://*.shop.example",
                           "https://a.example"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3000,
    }]


def test_a_rule_left_without_origins_is_dropped() -> None:
    rules = [{"AllowedMethods": ["GET"], "AllowedOrigins": ["https://shop-*.example"]},
             {"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]}]

    assert local_cors_rules(rules, LOCAL) == [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]}]


def test_the_identity_holds_the_stack_credentials() -> None:
    identity = identity_config("AKID", "SECRET")["identities"][0]  # type: ignore[index]

    assert identity["credentials"] == [{"accessKey": "AKID", "secretKey": "SECRET"}]
    assert {"Read", "Write", "List"} <= set(identity["actions"])
