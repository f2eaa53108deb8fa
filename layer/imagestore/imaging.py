"""What an image really is, from its structure: type, pixel size and whether it is whole (no decode).

"Verified" (POST /uploads/{fileId}/complete, the ObjectCreated function) means, for the exact bytes
that are then served (imagestore.data.storage copies them to the final key on their ETag):
- the object has the declared size and its first bytes are the declared type;
- its header gives the pixel size of every image in it, within the tenant's max_pixels; the size
  recorded is the displayed one, EXIF orientation applied (libheif applies HEIF's own rotation and
  crop). HEIC/HEIF is read with libheif through pillow-heif, and what a decoder has to decode is
  checked too: every image's coded size (its `ispe`, before a clean aperture `clap` crops it), a grid's
  tiles added up;
- its structure is whole, up to where the format says it ends:
  - JPEG: its segments are walked from the Start Of Image, each scan's entropy-coded data up to the
    marker that ends it, to the primary image's End Of Image (so an EOI inside a segment, such as the
    EXIF thumbnail's, is not taken for it). Bytes after it are accepted, as phones write them: a Motion
    Photo's video (XMP `GCamera:MotionPhoto`, `Container:Directory`; or `GCamera:MicroVideoOffset`), the
    further images of an MPF (CIPA DC-007) file, vendor trailers; what such a container declares must be
    there (an appended image starts with SOI within the object, a video's MP4 `ftyp` box is where the
    directory puts it);
  - PNG: the object ends with the IEND chunk; WebP: its RIFF size is the object's size exactly;
    HEIF: its top-level boxes add up to the object's size.
  A file cut short in transfer fails this, and so does one with bytes appended where its format defines
  its end (a polyglot; downloads are served as attachments anyway, see docs/downloads.md). Pixel data
  is not decoded here; damage inside the compressed data shows only when the image is decoded.
A JPEG's scan is the one part read whole (in blocks, by ranged reads of the object): linear, in C.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

SNIFF_BYTES = 256 * 1024  # enough for the headers of PNG, WebP and HEIC
TAIL_BYTES = 64 * 1024  # the last bytes read for PNG/HEIF structure
BLOCK_BYTES = 2 * 1024 * 1024  # what an ObjectSource reads at a time
MAX_JPEG_MARKERS = 4096  # segments and scans of one JPEG (real ones have tens); more is refused as damaged

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_ORIENTATION_TAG = 0x0112
_QUARTER_TURNS = {5, 6, 7, 8}  # EXIF orientations that display the stored image turned by 90 degrees


class ByteSource(Protocol):
    """An object's bytes, read by range."""

    size: int

    def read(self, offset: int, length: int) -> bytes: ...


class BytesSource:
    """A whole file in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def read(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


class ObjectSource:
    """An object of `size` bytes read by `read_range(start, length)` (one ranged GET each) in blocks of
    BLOCK_BYTES, the last few kept: a JPEG's segment walk and its scan read each block once."""

    def __init__(self, read_range: Callable[[int, int], bytes], size: int, keep: int = 3) -> None:
        self._read_range = read_range
        self.size = size
        self._blocks: dict[int, bytes] = {}
        self._keep = keep

    def read(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.size)
        parts = []
        while offset < end:
            index = offset // BLOCK_BYTES
            block = self._block(index)
            start = offset - index * BLOCK_BYTES
            piece = block[start : start + end - offset]
            if not piece:
                break
            parts.append(piece)
            offset += len(piece)
        return b"".join(parts)

    def _block(self, index: int) -> bytes:
        block = self._blocks.get(index)
        if block is None:
            start = index * BLOCK_BYTES
            block = self._read_range(start, min(BLOCK_BYTES, self.size - start))
            if len(self._blocks) >= self._keep:
                del self._blocks[next(iter(self._blocks))]
            self._blocks[index] = block
        return block


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
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, min(box_size, len(data)) - 3, 4)}
        if b"avif" not in brands and brands & _HEIC_BRANDS:
            return "image/heic"
    return None


def inspect_image(data: bytes) -> ImageInfo | None:
    """inspect_object of a whole file in memory."""
    return inspect_object(BytesSource(data))


def inspect_object(source: ByteSource) -> ImageInfo | None:
    """Type, pixel size and completeness of an object (see the module's docstring); None when it is not
    an accepted image."""
    size = source.size
    head = source.read(0, min(SNIFF_BYTES, size))
    content_type = sniff_type(head)
    if content_type is None:
        return None
    if content_type == "image/jpeg":
        return _jpeg(source)
    tail = head if size <= len(head) else source.read(max(0, size - TAIL_BYTES), TAIL_BYTES)
    if content_type == "image/heic":
        return _heic(head, tail, size)
    # PNG ends with its IEND chunk; a WebP's RIFF size (of what follows its 8-byte header) is the rest.
    complete = tail.endswith(_PNG_END) if content_type == "image/png" else struct.unpack("<I", head[4:8])[0] + 8 == size
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # the tenant's max_pixels is checked by the caller instead
    try:
        with Image.open(io.BytesIO(head)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error):
        return ImageInfo(content_type, None, None, complete=complete)
    return ImageInfo(content_type, width, height, complete=complete)


# --- JPEG -------------------------------------------------------------------------------------------

# Start Of Frame markers (C0-CF but DHT C4, JPG C8, DAC CC): the frame header gives the image's size.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM have no length
# In entropy-coded data a 0xFF is followed by 0x00 (a stuffed byte), by RSTn, or by more 0xFF (fill):
# anything else is the marker that ends the scan.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_EXIF = b"Exif\x00\x00"
_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_MPF = b"MPF\x00"
_MP_ENTRY_TAG = 0xB002


@dataclass
class _JpegParts:
    width: int | None = None
    height: int | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    mpf: tuple[int, bytes] | None = None  # the offset its offsets count from, its payload
    end: int | None = None  # just after the primary image's EOI


def _jpeg(source: ByteSource) -> ImageInfo:
    parts = _walk_jpeg(source)
    complete = parts.end is not None and _appended_parts_are_there(source, parts)
    width, height = parts.width, parts.height
    if not (width and height):
        return ImageInfo("image/jpeg", None, None, complete=complete)
    if _orientation(parts.exif) in _QUARTER_TURNS:  # the size as displayed, EXIF orientation applied
        width, height = height, width
    return ImageInfo("image/jpeg", width, height, complete=complete)


def _walk_jpeg(source: ByteSource) -> _JpegParts:
    """The primary image's segments from SOI to EOI, each scan's data skipped by searching for the
    marker that ends it. parts.end stays None when the structure is broken or ends early."""
    parts = _JpegParts()
    size = source.size
    position = 2  # after SOI
    for _ in range(MAX_JPEG_MARKERS):
        marker = source.read(position, 4)
        if len(marker) < 2 or marker[0] != 0xFF:
            return parts
        code = marker[1]
        if code == 0xFF:  # a fill byte before a marker
            position += 1
            continue
        if code == 0xD9:
            parts.end = position + 2
            return parts
        if code in _STANDALONE:
            position += 2
            continue
        if len(marker) < 4 or code in (0x00, 0xD8):
            return parts
        length = struct.unpack(">H", marker[2:4])[0]
        body_start, next_position = position + 4, position + 2 + length
        if length < 2 or next_position > size:
            return parts
        if code in _SOF and parts.width is None:
            frame = source.read(body_start, 5)
            if len(frame) == 5:
                parts.height, parts.width = struct.unpack(">HH", frame[1:5])
        elif code == 0xE1 and (parts.exif is None or parts.xmp is None):
            body = source.read(body_start, length - 2)
            if body.startswith(_EXIF) and parts.exif is None:
                parts.exif = body
            elif body.startswith(_XMP) and parts.xmp is None:
                parts.xmp = body[len(_XMP) :]
        elif code == 0xE2 and parts.mpf is None:
            body = source.read(body_start, length - 2)
            if body.startswith(_MPF):
                parts.mpf = (body_start + len(_MPF), body[len(_MPF) :])
        position = next_position
        if code == 0xDA:  # the scan's entropy-coded data runs to the next marker that is not RSTn
            found = _scan_end(source, position)
            if found is None:
                return parts
            position = found
    return parts


def _scan_end(source: ByteSource, position: int) -> int | None:
    """Where the marker that ends the entropy-coded data starting at position is; None if none does."""
    while position < source.size:
        chunk = source.read(position, BLOCK_BYTES + 1)  # one byte more: a 0xFF at the end of a block
        found = _SCAN_END.search(chunk, 0, min(len(chunk), BLOCK_BYTES + 1))
        if found is not None:
            return position + found.start()
        if len(chunk) <= BLOCK_BYTES:
            return None
        position += BLOCK_BYTES
    return None


def _orientation(exif: bytes | None) -> int:
    if not exif:
        return 1
    from PIL import Image

    try:
        data = Image.Exif()
        data.load(exif)
        value = data.get(_ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError, struct.error, KeyError, TypeError):
        return 1
    return value if isinstance(value, int) else 1


def _appended_parts_are_there(source: ByteSource, parts: _JpegParts) -> bool:
    """What the primary image's metadata says follows it is in the object: each further MPF image
    starts with SOI within it; a Motion Photo's video is at the end, an MP4 whose first box is ftyp."""
    assert parts.end is not None
    if parts.mpf is not None:
        for offset, length in _mpf_images(*parts.mpf):
            if offset < parts.end or offset + length > source.size or source.read(offset, 2) != b"\xff\xd8":
                return False
    video = _motion_photo_video(parts.xmp, source.size)
    if video is not None:
        start, length = video
        return start >= parts.end and source.read(start + 4, 4) == b"ftyp" and start + length <= source.size
    return True


def _mpf_images(base: int, payload: bytes) -> list[tuple[int, int]]:
    """The (offset, size) in the file of the further images an MPF APP2 segment lists (CIPA DC-007:
    a TIFF header, an MP Index IFD whose MPEntry (0xB002) holds 16 bytes per image: attributes, size,
    offset from the TIFF header, two dependent image numbers; the first image, offset 0, is this one).
    A list that cannot be read is ignored, as a decoder would."""
    try:
        order = {b"II": "<", b"MM": ">"}[payload[:2]]
        (ifd,) = struct.unpack(order + "I", payload[4:8])
        (count,) = struct.unpack(order + "H", payload[ifd : ifd + 2])
        for i in range(min(count, 64)):
            tag, kind, number, value = struct.unpack(order + "HHII", payload[ifd + 2 + 12 * i : ifd + 14 + 12 * i])
            if tag == _MP_ENTRY_TAG and kind == 7 and number % 16 == 0:
                entries = payload[value : value + number]
                images = [struct.unpack(order + "4xII4x", entries[j : j + 16]) for j in range(16, len(entries), 16)]
                return [(base + offset, length) for length, offset in images if offset]
    except (KeyError, struct.error):
        return []
    return []


_ITEM = re.compile(rb"<(?:Container:Item|rdf:li)\b[^>]*?>|Item:\w+=\"[^\"]*\"")


def _motion_photo_video(xmp: bytes | None, size: int) -> tuple[int, int] | None:
    """A Motion Photo's video as (start, length) from the end of the file: Google's Motion Photo format
    (GCamera:MotionPhoto="1", a Container:Directory whose items after the primary image each have an
    Item:Length, the video among them, all at the end of the file) or the older
    GCamera:MicroVideo="1" with GCamera:MicroVideoOffset (the video's offset from the end)."""
    if not xmp or b"GCamera:" not in xmp:
        return None
    micro = re.search(rb'GCamera:MicroVideoOffset="(\d{1,12})"', xmp)
    if micro is not None and re.search(rb'GCamera:MicroVideo="1"', xmp):
        length = int(micro.group(1))
        return (size - length, length) if 0 < length <= size else (size, 0)
    if not re.search(rb'GCamera:MotionPhoto="1"', xmp):
        return None
    lengths = [
        (mime, int(length))
        for mime, length in re.findall(rb'Item:Mime="([^"]{1,100})"[^>]{0,2000}?Item:Length="(\d{1,12})"', xmp)
    ]
    video_at, trailing = None, 0
    for mime, length in reversed(lengths):  # the items after the primary image, from the end of the file
        trailing += length
        if mime.startswith(b"video/"):
            video_at = (size - trailing, length)
    return video_at


# --- HEIF -------------------------------------------------------------------------------------------


def _heic(head: bytes, tail: bytes, size: int) -> ImageInfo:
    """HEIC/HEIF through libheif (pillow-heif): the primary image's displayed size; largest_pixels is
    the most any one of the file's images makes a decoder decode (coded_pixels); its boxes must add up
    to size."""
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(io.BytesIO(head), convert_hdr_to_8bit=False)
        width, height = heif.size
        largest = max(image.size[0] * image.size[1] for image in heif)
    except (ValueError, RuntimeError, OSError, struct.error):
        return ImageInfo("image/heic", None, None)
    coded = coded_pixels(head)
    if not (width and height) or coded is None:
        return ImageInfo("image/heic", None, None)
    return ImageInfo(
        "image/heic", width, height, largest_pixels=max(largest, coded), complete=_boxes_reach_the_end(head, tail, size)
    )


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The boxes between start and end as (type, where its contents start, where it ends)."""
    found = []
    while start + 8 <= end:
        box_size, kind = struct.unpack(">I4s", data[start : start + 8])
        header = 8
        if box_size == 1:
            if start + 16 > end:
                break
            box_size, header = struct.unpack(">Q", data[start + 8 : start + 16])[0], 16
        elif box_size == 0:
            box_size = end - start
        if box_size < header or start + box_size > end:
            break
        found.append((kind, start + header, start + box_size))
        start += box_size
    return found


def coded_pixels(data: bytes) -> int | None:
    """The most pixels a decoder decodes for one image of a HEIF file, from its `meta` box: an image
    item's coded size (its `ispe` property, whatever a `clap` crops it to), a derived image (grid,
    overlay, identity) its own size or its inputs' (`dimg` references) added up, whichever is more.
    None when there is no `meta` box with image sizes in data."""
    meta = next((box for box in _boxes(data, 0, len(data)) if box[0] == b"meta"), None)
    if meta is None:
        return None
    children = {kind: (start, end) for kind, start, end in _boxes(data, meta[1] + 4, meta[2])}
    try:
        sizes = _item_sizes(data, children)
        inputs = _derivations(data, children.get(b"iref"))
    except (struct.error, IndexError, KeyError):
        return None
    if not sizes:
        return None

    def cost(item: int, depth: int = 0) -> int:
        own = sizes.get(item, 0)
        if depth > 8 or item not in inputs:
            return own
        return max(own, sum(cost(tile, depth + 1) for tile in inputs[item]))

    return max(cost(item) for item in set(sizes) | set(inputs))


def _item_sizes(data: bytes, children: dict[bytes, tuple[int, int]]) -> dict[int, int]:
    """Item id -> width x height of its ispe property (iprp: ipco's properties, ipma's associations)."""
    iprp = children.get(b"iprp")
    if iprp is None:
        return {}
    parts = {kind: (start, end) for kind, start, end in _boxes(data, *iprp)}
    ipco, ipma = parts.get(b"ipco"), parts.get(b"ipma")
    if ipco is None or ipma is None:
        return {}
    properties = _boxes(data, *ipco)
    version, flags = data[ipma[0]], int.from_bytes(data[ipma[0] + 1 : ipma[0] + 4], "big")
    (entries,) = struct.unpack(">I", data[ipma[0] + 4 : ipma[0] + 8])
    position, sizes = ipma[0] + 8, dict[int, int]()
    for _ in range(entries):
        if version < 1:
            item, position = struct.unpack(">H", data[position : position + 2])[0], position + 2
        else:
            item, position = struct.unpack(">I", data[position : position + 4])[0], position + 4
        count, position = data[position], position + 1
        for _ in range(count):
            if flags & 1:
                index, position = struct.unpack(">H", data[position : position + 2])[0] & 0x7FFF, position + 2
            else:
                index, position = data[position] & 0x7F, position + 1
            if 0 < index <= len(properties) and properties[index - 1][0] == b"ispe":
                start = properties[index - 1][1]
                width, height = struct.unpack(">II", data[start + 4 : start + 12])
                sizes[item] = max(sizes.get(item, 0), width * height)
        if position > ipma[1]:
            raise IndexError("ipma runs past its box")
    return sizes


def _derivations(data: bytes, iref: tuple[int, int] | None) -> dict[int, list[int]]:
    """Item id -> the items it is derived from (`dimg` references: a grid's tiles, an overlay's layers)."""
    if iref is None:
        return {}
    wide = data[iref[0]] >= 1
    id_format = ">I" if wide else ">H"
    id_size = 4 if wide else 2
    inputs: dict[int, list[int]] = {}
    for kind, start, _end in _boxes(data, iref[0] + 4, iref[1]):
        if kind != b"dimg":
            continue
        (item,) = struct.unpack(id_format, data[start : start + id_size])
        (count,) = struct.unpack(">H", data[start + id_size : start + id_size + 2])
        first = start + id_size + 2
        inputs.setdefault(item, []).extend(
            struct.unpack(id_format, data[first + i * id_size : first + (i + 1) * id_size])[0] for i in range(count)
        )
    return inputs


def _boxes_reach_the_end(head: bytes, tail: bytes, size: int) -> bool:
    """Whether an ISO BMFF file's top-level boxes, read from their headers in head or tail, end exactly
    at size (a box of size 0 runs to the end). A header that lies in neither is not trusted."""
    tail_start = size - len(tail)
    offset = 0
    while offset < size:
        if offset < len(head) and (offset + 16 <= len(head) or len(head) == size):
            header = head[offset : offset + 16]
        elif offset >= tail_start:
            header = tail[offset - tail_start : offset - tail_start + 16]
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
