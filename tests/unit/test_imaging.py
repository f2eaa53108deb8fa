"""Image type and size from the first bytes."""

from __future__ import annotations

import struct

import pytest

from imagestore.imaging import inspect_image, sniff_type
from tests.support.images import image_bytes


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_real_images_are_recognised_with_their_size(fmt: str, mime: str) -> None:
    info = inspect_image(image_bytes(fmt, (300, 200)))
    assert info is not None
    assert (info.content_type, info.width, info.height) == (mime, 300, 200)


def test_heic_type_and_size_from_its_boxes() -> None:
    ftyp = struct.pack(">I", 24) + b"ftypheic" + struct.pack(">I", 0) + b"mif1heic"
    ispe = struct.pack(">I", 20) + b"ispe" + b"\x00\x00\x00\x00" + struct.pack(">II", 4032, 3024)
    info = inspect_image(ftyp + b"\x00" * 40 + ispe)
    assert info is not None
    assert (info.content_type, info.width, info.height) == ("image/heic", 4032, 3024)


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
