"""What an image really is, from its first and last bytes: type, pixel size and whether its structure
is whole (no full decode).

"Verified" (POST /uploads/{fileId}/complete, the ObjectCreated function) means, for the exact bytes
that are then served (imagestore.data.storage copies them to the final key on their ETag):
- the object has the declared size and its first bytes are the declared type;
- its header gives the pixel size of every image in it, within the tenant's max_pixels
  (HEIC/HEIF: read with libheif through pillow-heif, grid images included); the size recorded is the
  displayed one, EXIF orientation applied (libheif applies HEIF's own rotation);
- its structure reaches its end: a JPEG's End Of Image marker is in its last 64 KiB, a PNG's IEND
  chunk is, a WebP's RIFF size fits the object, a HEIF's top-level boxes add up to the object's size.
  A file cut short in transfer fails this. The pixel data itself is not decoded here (that would pass
  every byte through Lambda); damage inside the compressed data shows only when the image is decoded.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

SNIFF_BYTES = 256 * 1024  # enough for the headers of JPEG (EXIF/ICC first), PNG, WebP and HEIC
TAIL_BYTES = 64 * 1024  # where the end of an image's structure is looked for

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"
_ORIENTATION_TAG = 0x0112
_QUARTER_TURNS = {5, 6, 7, 8}  # EXIF orientations that display the stored image turned by 90 degrees


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int | None
    height: int | None
    largest_pixels: int | None = None  # of every image in the file (HEIF holds several); else width x height
    complete: bool = True  # its structure reaches its end (not cut short)

    @property
    def pixels(self) -> int | None:
        if self.largest_pixels is not None:
            return self.largest_pixels
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


def inspect_image(head: bytes, tail: bytes | None = None, size: int | None = None) -> ImageInfo | None:
    """Type, pixel size and completeness from an image's first bytes (`head`) and last bytes (`tail`)
    of an object of `size` bytes; without tail and size, `head` is the whole file. None when it is
    not an accepted image."""
    if size is None:
        size, tail = len(head), head
    tail = head if tail is None else tail
    content_type = sniff_type(head)
    if content_type is None:
        return None
    if content_type == "image/heic":
        return _heic(head, tail, size)
    if content_type == "image/jpeg":
        complete = _JPEG_END in tail[-TAIL_BYTES:]
    elif content_type == "image/png":
        complete = _PNG_END in tail[-TAIL_BYTES:]
    else:  # WebP: the RIFF chunk's size (of what follows its 8-byte header) fits in the object
        complete = struct.unpack("<I", head[4:8])[0] + 8 <= size
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # the tenant's max_pixels is checked by the caller instead
    try:
        with Image.open(io.BytesIO(head)) as image:
            width, height = image.size
            try:
                orientation = image.getexif().get(_ORIENTATION_TAG, 1)
            except (OSError, SyntaxError, ValueError, struct.error):
                orientation = 1
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error):
        return ImageInfo(content_type, None, None, complete=complete)
    if orientation in _QUARTER_TURNS:  # the size as displayed, EXIF orientation applied
        width, height = height, width
    return ImageInfo(content_type, width, height, complete=complete)


def _heic(head: bytes, tail: bytes, size: int) -> ImageInfo:
    """HEIC/HEIF through libheif (pillow-heif): the primary image's size and the largest of all the
    file's top-level images (a grid counts as its whole canvas); its boxes must add up to size."""
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(io.BytesIO(head), convert_hdr_to_8bit=False)
        width, height = heif.size
        largest = max(image.size[0] * image.size[1] for image in heif)
    except (ValueError, RuntimeError, OSError, struct.error):
        return ImageInfo("image/heic", None, None)
    if not (width and height):
        return ImageInfo("image/heic", None, None)
    return ImageInfo("image/heic", width, height, largest_pixels=largest,
                     complete=_boxes_reach_the_end(head, tail, size))


def _boxes_reach_the_end(head: bytes, tail: bytes, size: int) -> bool:
    """Whether an ISO BMFF file's top-level boxes, read from their headers in head or tail, end exactly
    at size (a box of size 0 runs to the end). A header that lies in neither is not trusted."""
    tail_start = size - len(tail)
    offset = 0
    while offset < size:
        if offset < len(head) and (offset + 16 <= len(head) or len(head) == size):
            header = head[offset:offset + 16]
        elif offset >= tail_start:
            header = tail[offset - tail_start:offset - tail_start + 16]
        else:
            return False
        if len(header) < 8:
            return False
        box_size = struct.unpack(">I", header[:4])[0]
        if box_size == 0:
            return True
        if box_size == 1:
            if len(header) < 16:
                return False
            box_size = struct.unpack(">Q", header[8:16])[0]
        if box_size < 8:
            return False
        offset += box_size
    return offset == size
