"""What an image really is, from its first bytes: type and pixel size (no full decode)."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

SNIFF_BYTES = 256 * 1024  # enough for the headers of JPEG (EXIF/ICC first), PNG, WebP and HEIC

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int | None
    height: int | None

    @property
    def pixels(self) -> int | None:
        return self.width * self.height if self.width and self.height else None


def sniff_type(data: bytes) -> str | None:
    """The image MIME type the bytes start with, or None if they are no image we accept."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        box_size = struct.unpack(">I", data[:4])[0]
        brands = {data[8:12]} | {data[i:i + 4] for i in range(16, min(box_size, len(data)) - 3, 4)}
        if b"avif" not in brands and brands & _HEIC_BRANDS:
            return "image/heic"
    return None


def inspect_image(data: bytes) -> ImageInfo | None:
    """Type and pixel size from an image's first bytes; None when it is not an accepted image."""
    content_type = sniff_type(data)
    if content_type is None:
        return None
    if content_type == "image/heic":
        width, height = _heic_size(data)
        return ImageInfo(content_type, width, height)
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # the tenant's max_pixels is checked by the caller instead
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error):
        return ImageInfo(content_type, None, None)
    return ImageInfo(content_type, width, height)


def _heic_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height from the first 'ispe' (image spatial extents) property of a HEIF file."""
    index = data.find(b"ispe")
    if index < 4 or index + 16 > len(data):
        return None, None
    width, height = struct.unpack(">II", data[index + 8:index + 16])
    return (width, height) if width and height else (None, None)
