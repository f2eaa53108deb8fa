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


def _segment(marker: int, payload: bytes) -> bytes:
    assert len(payload) + 2 <= 0xFFFF
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def with_segments(data: bytes, *segments: bytes) -> bytes:
    """A JPEG with the given segments inserted right after its SOI (as cameras put APP1 first)."""
    assert data[:2] == b"\xff\xd8"
    return data[:2] + b"".join(segments) + data[2:]


def exif_with_thumbnail(thumbnail: bytes, orientation: int = 1) -> bytes:
    """An APP1 EXIF segment as a camera writes it: IFD0 (Orientation) and IFD1 whose
    JPEGInterchangeFormat/Length point at a whole JPEG thumbnail (SOI ... EOI) inside the segment."""
    import struct

    ifd0 = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 26)
    ifd1_entries = 2
    thumb_at = 26 + 2 + 12 * ifd1_entries + 4
    ifd1 = (
        struct.pack(">H", ifd1_entries)
        + struct.pack(">HHII", 0x0201, 4, 1, thumb_at)
        + struct.pack(">HHII", 0x0202, 4, 1, len(thumbnail))
        + struct.pack(">I", 0)
    )
    tiff = b"MM\x00*" + struct.pack(">I", 8) + ifd0 + ifd1 + thumbnail
    return _segment(0xE1, b"Exif\x00\x00" + tiff)


def noisy_jpeg(size: tuple[int, int], quality: int = 90, seed: int = 1, **save: object) -> bytes:
    """A JPEG of random pixels (large entropy-coded data, as a photo's), with Pillow's save options."""
    import random

    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, format="JPEG", quality=quality, **save)
    return buffer.getvalue()


def mp4(payload_bytes: int) -> bytes:
    """The start of an MP4 as phones append it: an ftyp box, then an mdat box of payload_bytes."""
    import struct

    ftyp = struct.pack(">I", 24) + b"ftypmp42" + struct.pack(">I", 0) + b"isommp42"
    return ftyp + struct.pack(">I", payload_bytes + 8) + b"mdat" + bytes(payload_bytes)


def motion_photo(size: tuple[int, int] = (1024, 768), video_bytes: int = 3 * 1024 * 1024) -> bytes:
    """A Google Motion Photo (Android camera apps; Motion Photo format 1.0): the primary JPEG with an
    XMP packet (GCamera:MotionPhoto="1", a Container:Directory of the primary image and the video with
    its Item:Length), the MP4 video appended after the JPEG's EOI."""
    video = mp4(video_bytes - 32)
    assert len(video) == video_bytes
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" '
        'xmlns:Container="http://ns.google.com/photos/1.0/container/" '
        'xmlns:Item="http://ns.google.com/photos/1.0/container/item/" '
        'GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="0">'
        "<Container:Directory><rdf:Seq>"
        '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" '
        'Item:Length="0" Item:Padding="0"/></rdf:li>'
        '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" '
        f'Item:Length="{video_bytes}" Item:Padding="0"/></rdf:li>'
        "</rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    xmp_segment = _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp)
    return with_segments(noisy_jpeg(size), xmp_segment) + video


def mpf_jpeg(size: tuple[int, int] = (1024, 768)) -> bytes:
    """A multi-picture JPEG (CIPA DC-007 MPF, as phones write depth maps, gain maps and previews): the
    primary image with an APP2 MPF segment listing a second image appended after its EOI, written by
    Pillow's MPO encoder (offsets and sizes as a camera writes them)."""
    import random

    first = Image.frombytes("RGB", size, random.Random(2).randbytes(size[0] * size[1] * 3))
    second = Image.frombytes("RGB", size, random.Random(3).randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    first.save(buffer, format="MPO", save_all=True, append_images=[second], quality=90)
    return buffer.getvalue()


def large_jpeg(min_bytes: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A valid JPEG of at least min_bytes: comment segments (64 KiB each) after its scan data, before
    its End Of Image (its headers stay within the first bytes the completion reads)."""
    small = jpeg(size)
    start = len(small) - 2  # EOI
    chunk = 65_533
    count = -(-max(0, min_bytes - len(small)) // (chunk + 4))
    comment = b"\xff\xfe" + (chunk + 2).to_bytes(2, "big") + b"c" * chunk
    return small[:start] + comment * count + small[start:]
