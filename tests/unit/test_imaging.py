"""Image type and size from the first bytes."""

from __future__ import annotations

import struct

import pytest

from imagestore.imaging import SNIFF_BYTES, TAIL_BYTES, inspect_image, sniff_type
from tests.support.images import heic, image_bytes


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_real_images_are_recognised_with_their_size(fmt: str, mime: str) -> None:
    info = inspect_image(image_bytes(fmt, (300, 200)))
    assert info is not None
    assert (info.content_type, info.width, info.height) == (mime, 300, 200)


def test_heic_type_and_size_from_libheif() -> None:
    info = inspect_image(heic((640, 480)))
    assert info is not None
    assert (info.content_type, info.width, info.height, info.pixels, info.complete) == (
        "image/heic", 640, 480, 640 * 480, True)


def test_a_heic_grid_image_has_the_size_of_its_whole_canvas() -> None:
    data = heic((1024, 768), tile_size=256)
    assert b"grid" in data
    info = inspect_image(data)
    assert info is not None
    assert (info.width, info.height, info.pixels, info.complete) == (1024, 768, 1024 * 768, True)


def test_a_heic_with_only_an_ftyp_box_or_a_fake_ispe_has_no_size() -> None:
    ftyp = struct.pack(">I", 24) + b"ftypheic" + struct.pack(">I", 0) + b"mif1heic"
    ispe = struct.pack(">I", 20) + b"ispe" + b"\x00\x00\x00\x00" + struct.pack(">II", 4032, 3024)
    for data in (ftyp, ftyp + b"<html>" * 100, ftyp + b"\x00" * 40 + ispe):
        info = inspect_image(data)
        assert info is not None and info.content_type == "image/heic"
        assert info.pixels is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIC"])
def test_a_truncated_image_is_not_complete(fmt: str) -> None:
    data = heic((320, 240)) if fmt == "HEIC" else image_bytes(fmt, (320, 240))
    whole = inspect_image(data)
    assert whole is not None and whole.complete
    cut = inspect_image(data[:-40])
    assert cut is not None and not cut.complete


def test_completeness_of_a_large_file_is_read_from_its_head_and_tail() -> None:
    import io
    import os

    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (1200, 1200), os.urandom(1200 * 1200 * 3)).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    assert len(data) > SNIFF_BYTES + TAIL_BYTES
    info = inspect_image(data[:SNIFF_BYTES], data[-TAIL_BYTES:], len(data))
    assert info is not None and info.complete and info.width == 1200
    cut = data[: len(data) - 1000]
    info = inspect_image(cut[:SNIFF_BYTES], cut[-TAIL_BYTES:], len(cut))
    assert info is not None and not info.complete


def test_avif_is_not_taken_for_heic() -> None:
    ftyp = struct.pack(">I", 24) + b"ftypavif" + struct.pack(">I", 0) + b"mif1avif"
    assert sniff_type(ftyp) is None


@pytest.mark.parametrize("data", [b"", b"hello", b"GIF89a" + b"\x00" * 20, b"%PDF-1.7"])
def test_anything_else_is_no_image(data: bytes) -> None:
    assert inspect_image(data) is None


def test_only_the_first_bytes_are_needed_for_the_size() -> None:
    import io
    import os

    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (1500, 1500), os.urandom(1500 * 1500 * 3)).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    assert len(data) > 256 * 1024
    info = inspect_image(data[:4096])
    assert info is not None and (info.width, info.height) == (1500, 1500)
