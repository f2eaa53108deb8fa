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


def heic(size: tuple[int, int] = (64, 48), *, tile_size: int = 0, color: str = "orange") -> bytes:
    """A real HEIC made by libheif (pillow-heif); tile_size > 0 makes a grid image of such tiles."""
    import pillow_heif

    buffer = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", size, color)).save(buffer, quality=30, tile_size=tile_size)
    return buffer.getvalue()
