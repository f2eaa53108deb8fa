"""Image type and size from the first bytes."""

from __future__ import annotations

import struct

import pytest

from imagestore.imaging import (
    BLOCK_BYTES,
    SNIFF_BYTES,
    TAIL_BYTES,
    BytesSource,
    ObjectSource,
    coded_pixels,
    inspect_image,
    inspect_object,
    sniff_type,
)
from tests.support.images import (
    exif_with_thumbnail,
    heic,
    image_bytes,
    jpeg,
    motion_photo,
    mpf_jpeg,
    noisy_jpeg,
    with_segments,
)


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_real_images_are_recognised_with_their_size(fmt: str, mime: str) -> None:
    info = inspect_image(image_bytes(fmt, (300, 200)))
    assert info is not None
    assert (info.content_type, info.width, info.height) == (mime, 300, 200)


def test_heic_type_and_size_from_libheif() -> None:
    info = inspect_image(heic((640, 480)))
    assert info is not None
    assert (info.content_type, info.width, info.height, info.pixels, info.complete) == (
        "image/heic",
        640,
        480,
        640 * 480,
        True,
    )


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


def test_completeness_of_a_large_file_is_read_by_ranges() -> None:
    import io
    import os

    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (1200, 1200), os.urandom(1200 * 1200 * 3)).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    assert len(data) > SNIFF_BYTES + TAIL_BYTES
    info = inspect_object(_ranged(data))
    assert info is not None and info.complete and info.width == 1200
    cut = data[: len(data) - 1000]
    info = inspect_object(_ranged(cut))
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


class _Ranges:
    """Ranged reads of bytes, recorded."""

    def __init__(self, data: bytes) -> None:
        self.data, self.reads = data, []

    def __call__(self, start: int, length: int) -> bytes:
        self.reads.append((start, length))
        return self.data[start : start + length]


def _ranged(data: bytes) -> ObjectSource:
    return ObjectSource(_Ranges(data), len(data))


# --- JPEG structure (issue 24) -----------------------------------------------------------------------


def test_a_jpeg_cut_short_is_refused_though_its_exif_thumbnails_eoi_is_in_its_last_bytes() -> None:
    data = with_segments(noisy_jpeg((300, 200)), exif_with_thumbnail(jpeg((160, 120)), orientation=6))
    assert len(data) < TAIL_BYTES and data.count(b"\xff\xd9") == 2  # the old check saw the thumbnail's EOI
    whole = inspect_image(data)
    assert whole is not None and whole.complete and (whole.width, whole.height) == (200, 300)
    for cut in (len(data) - 2, len(data) - 500, len(data) // 2):
        info = inspect_image(data[:cut])
        assert info is not None and not info.complete, cut


def test_a_large_jpeg_cut_short_is_refused_when_read_by_ranges() -> None:
    data = noisy_jpeg((2000, 1500))
    assert len(data) > BLOCK_BYTES
    assert inspect_object(_ranged(data)).complete  # type: ignore[union-attr]
    reads = _Ranges(data[:-3])
    info = inspect_object(ObjectSource(reads, len(data) - 3))
    assert info is not None and not info.complete
    assert sum(length for _, length in reads.reads) <= len(data) + BLOCK_BYTES  # each block read once


def test_a_motion_photo_with_its_video_after_the_eoi_is_accepted() -> None:
    data = motion_photo((1024, 768), video_bytes=3 * 1024 * 1024)
    assert len(data) - data.index(b"ftypmp42") > 64 * 1024  # the old check refused > 64 KiB after EOI
    info = inspect_object(_ranged(data))
    assert info is not None and info.complete and (info.width, info.height) == (1024, 768)


def test_a_motion_photo_whose_video_is_cut_short_is_refused() -> None:
    data = motion_photo((640, 480), video_bytes=1024 * 1024)
    info = inspect_image(data[:-4096])
    assert info is not None and not info.complete


def test_an_mpf_jpeg_with_a_second_image_appended_is_accepted() -> None:
    data = mpf_jpeg((1024, 768))
    assert data.count(b"MPF\x00") == 1 and data.count(b"\xff\xd8\xff") >= 2
    info = inspect_object(_ranged(data))
    assert info is not None and info.complete and (info.width, info.height) == (1024, 768)
    cut = inspect_image(data[:-100])  # the appended image cut short: MPF says how long it is
    assert cut is not None and not cut.complete


def test_a_jpeg_whose_header_is_over_256_kib_is_read_whole() -> None:
    data = noisy_jpeg((800, 600), icc_profile=bytes(range(256)) * 1600)  # 400 KB ICC profile: 7 APP2 segments
    assert data.index(b"\xff\xc0") > SNIFF_BYTES
    info = inspect_object(_ranged(data))
    assert info is not None and info.complete and (info.width, info.height) == (800, 600)


def test_bytes_after_a_jpegs_eoi_are_accepted_but_a_scan_without_eoi_is_not() -> None:
    data = noisy_jpeg((320, 240))
    assert inspect_image(data + b"<html><script>alert(1)</script></html>").complete  # type: ignore[union-attr]
    no_eoi = data[:-2] + b"\xff"
    assert not inspect_image(no_eoi).complete  # type: ignore[union-attr]


def test_a_jpeg_of_endless_segments_is_refused_after_a_bounded_number() -> None:
    empty_segments = b"\xff\xe0\x00\x02" * 100_000
    info = inspect_image(b"\xff\xd8" + empty_segments + noisy_jpeg((64, 48))[2:])
    assert info is not None and not info.complete and info.pixels is None


# --- polyglots: where the format defines its end, nothing may follow it -------------------------------


def test_a_webp_whose_riff_size_is_short_of_the_object_is_refused() -> None:
    data = image_bytes("WEBP", (64, 48))
    assert inspect_image(data).complete  # type: ignore[union-attr]
    assert not inspect_image(data + b"<html></html>").complete  # type: ignore[union-attr]


def test_a_png_with_bytes_after_its_iend_is_refused() -> None:
    data = image_bytes("PNG", (64, 48))
    assert inspect_image(data).complete  # type: ignore[union-attr]
    assert not inspect_image(data + b"<html></html>").complete  # type: ignore[union-attr]


# --- HEIF coded size -----------------------------------------------------------------------------------


def _with_clean_aperture(data: bytes, width: int, height: int) -> bytes:
    """The HEIC with its clap box rewritten to show width x height of its coded image."""
    at = data.index(b"clap") + 4
    clap = struct.pack(">8I", width, 1, height, 1, 0, 1, 0, 1)
    return data[:at] + clap + data[at + 32 :]


def test_a_heic_whose_clean_aperture_hides_its_coded_size_counts_the_coded_pixels() -> None:
    data = _with_clean_aperture(heic((2047, 1535)), 64, 48)  # odd sizes: libheif codes 2048 x 1536, crops
    info = inspect_image(data)
    assert info is not None and (info.width, info.height) == (64, 48)  # what libheif displays
    assert info.pixels is not None and info.pixels >= 2048 * 1536  # what a decoder decodes


def test_a_heic_grid_counts_its_tiles() -> None:
    data = heic((1000, 700), tile_size=256)
    assert coded_pixels(data) == 4 * 3 * 256 * 256  # whole tiles, more than the 1000 x 700 canvas
    assert inspect_image(data).pixels == 4 * 3 * 256 * 256  # type: ignore[union-attr]


def test_coded_pixels_of_no_meta_box_is_none() -> None:
    assert coded_pixels(b"") is None
    assert BytesSource(b"abc").read(1, 10) == b"bc"
