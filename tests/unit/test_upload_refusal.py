"""The refusal kept on a pending file item: small, and the same after a round trip through DynamoDB."""

from __future__ import annotations

from decimal import Decimal

from imagestore.data.table import deserialize, serialize
from imagestore.models.files import (
    MAX_REFUSAL_DETAILS,
    MAX_REFUSAL_MESSAGE,
    FileRecord,
    UploadRefusal,
)


def _record(refusal: UploadRefusal | None) -> FileRecord:
    return FileRecord(
        tenant_id="shop-a",
        user_id="alice",
        file_id="01h00000000000000000000000",
        session_id="s1",
        filename="a.jpg",
        content_type="image/jpeg",
        size_bytes=10,
        created_at=1,
        expires_at=2,
        refusal=refusal,
    )


def test_a_refusal_survives_the_file_items_round_trip_with_integer_details() -> None:
    refusal = UploadRefusal.of(
        "unprocessable",
        "100x100 pixels is over the limit of 1000",
        {"width": 100, "pixels": 10_000, "declaredType": "image/png"},
        '"abc"',
    )
    item = deserialize(serialize(_record(refusal).to_item(4)))

    assert item["refusal"]["details"]["pixels"] == Decimal(10_000)
    back = FileRecord.from_item(item).refusal
    assert back == refusal
    assert back is not None and back.details == {"width": 100, "pixels": 10_000, "declaredType": "image/png"}
    assert "refusal" not in _record(None).to_item(4)


def test_a_refusal_is_cut_to_a_small_item() -> None:
    details: dict[str, object] = {f"k{i}": i for i in range(50)}
    details["k0"] = 1.5  # not stored as a number (DynamoDB through boto3 takes no float): as its text
    details["k1"] = True
    refusal = UploadRefusal.of("unprocessable", "x" * 10_000, details, None)

    assert len(refusal.message) == MAX_REFUSAL_MESSAGE
    assert len(refusal.details) == MAX_REFUSAL_DETAILS
    assert refusal.details["k0"] == "1.5" and refusal.details["k1"] == "True" and refusal.details["k2"] == 2
    assert FileRecord.from_item(deserialize(serialize(_record(refusal).to_item(4)))).refusal == refusal
