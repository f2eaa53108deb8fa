"""Test images, generated (never checked in)."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), color: str = "orange") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    return image_bytes("JPEG", size)


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    return image_bytes("PNG", size)
