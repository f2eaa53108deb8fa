"""Previews from real images made here: sizes, orientation, colour, metadata stripped, refusals; the
print-check arithmetic; preview keys."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from imagestore import keys
from imagestore.imaging import inspect_image
from imagestore.previews import (
    PREVIEW_SIZES,
    TooManyPixels,
    Undecodable,
    Verdict,
    effective_dpi,
    print_check,
    render_previews,
)
from tests.support.images import heic

LIMIT = 100_000_000
GPS_IFD = 0x8825


def phone_jpeg() -> bytes:
    """4000 x 3000 as stored, left half red, right half blue; EXIF Orientation 6 (display turned 90
    degrees clockwise: the stored left half is shown on top), DateTimeOriginal and GPS."""
    image = Image.new("RGB", (4000, 3000), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 2000, 3000))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8769).update({0x9003: "2024:07:14 18:30:05", 0x9011: "+02:00"})
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 1.0)})
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85, exif=exif)
    return buffer.getvalue()


def shown(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_no_metadata(data: bytes) -> None:
    image = shown(data)
    assert image.format == "JPEG"
    assert dict(image.getexif()) == {}
    assert image.getexif().get_ifd(GPS_IFD) == {}
    assert "icc_profile" not in image.info and "exif" not in image.info
    assert b"Exif\x00\x00" not in data and b"PhoneMaker" not in data


def test_a_phone_photo_is_turned_upright_with_its_capture_time_and_no_gps() -> None:
    rendered = render_previews(phone_jpeg(), max_pixels=LIMIT)

    assert (rendered.width, rendered.height) == (3000, 4000)  # displayed size, portrait
    assert rendered.taken_at == "2024-07-14T18:30:05+02:00"
    by_name = {p.name: p for p in rendered.previews}
    assert (by_name["thumb"].width, by_name["thumb"].height) == (240, 320)
    assert (by_name["screen"].width, by_name["screen"].height) == (1200, 1600)
    for preview in rendered.previews:
        assert preview.content_type == "image/jpeg"
        image = shown(preview.data)
        assert image.size == (preview.width, preview.height)
        assert max(image.size) <= PREVIEW_SIZES[preview.name]
        assert image.mode == "RGB"
        top = image.getpixel((image.width // 2, image.height // 4))
        bottom = image.getpixel((image.width // 2, image.height * 3 // 4))
        assert top[0] > 200 and top[2] < 60, top  # red on top: the stored left half
        assert bottom[2] > 200 and bottom[0] < 60, bottom
        assert_no_metadata(preview.data)


def test_the_upload_check_records_the_displayed_size_too() -> None:
    info = inspect_image(phone_jpeg())
    assert info is not None and (info.width, info.height) == (3000, 4000)


def test_a_small_image_is_never_upscaled() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (100, 50), "green").save(buffer, format="PNG")

    rendered = render_previews(buffer.getvalue(), max_pixels=LIMIT)

    assert rendered.taken_at is None
    assert [(p.name, p.width, p.height) for p in rendered.previews] == [("thumb", 100, 50), ("screen", 100, 50)]
    assert all(shown(p.data).size == (100, 50) for p in rendered.previews)


def test_a_heic_gets_jpeg_previews_a_browser_shows() -> None:
    rendered = render_previews(heic((800, 600), color="red"), max_pixels=LIMIT)

    assert (rendered.width, rendered.height) == (800, 600)
    thumb, screen = rendered.previews
    assert shown(thumb.data).format == "JPEG" and shown(thumb.data).size == (320, 240)
    assert shown(screen.data).size == (800, 600)
    red = shown(screen.data).getpixel((400, 300))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60, red


def test_a_cmyk_jpeg_becomes_srgb() -> None:
    buffer = io.BytesIO()
    Image.new("CMYK", (2000, 1000), (0, 255, 255, 0)).save(buffer, format="JPEG")  # red in CMYK

    rendered = render_previews(buffer.getvalue(), max_pixels=LIMIT)

    screen = shown(rendered.previews[1].data)
    assert screen.mode == "RGB" and screen.size == (1600, 800)
    pixel = screen.getpixel((800, 400))
    assert pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60, pixel


def test_a_16_bit_greyscale_png_is_scaled_to_8_bits() -> None:
    image = Image.new("I;16", (400, 300), 0)
    image.paste(Image.new("I;16", (200, 300), 32768), (0, 0))  # half grey, half black
    assert image.getpixel((10, 10)) == 32768
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")

    thumb = shown(render_previews(buffer.getvalue(), max_pixels=LIMIT).previews[0].data)

    assert thumb.mode == "L" and thumb.size == (320, 240)
    assert 120 <= thumb.getpixel((40, 120)) <= 136  # 32768 / 256 = 128, not clipped to 255
    assert thumb.getpixel((280, 120)) < 8


def test_a_transparent_png_is_laid_on_white() -> None:
    image = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 150, 300))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")

    thumb = shown(render_previews(buffer.getvalue(), max_pixels=LIMIT).previews[0].data)

    assert thumb.getpixel((250, 150))[0] > 240  # transparent -> white, not black
    assert thumb.getpixel((50, 150))[2] > 200


def test_an_animated_image_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (200, 100), colour) for colour in ("lime", "blue", "red")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)

    thumb = shown(render_previews(buffer.getvalue(), max_pixels=LIMIT).previews[0].data)

    pixel = thumb.getpixel((100, 50))
    assert pixel[1] > 200 and pixel[0] < 60 and pixel[2] < 60, pixel


def png_bomb(side: int) -> bytes:
    """A valid 1-bit greyscale PNG of side x side pixels whose zlib data is tiny (all zeros)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b"\x00" * (1 + side // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    bomb = png_bomb(40_000)  # 1.6 gigapixels in a few hundred KB
    assert len(bomb) < 1_000_000

    with pytest.raises(TooManyPixels, match="over the limit"):
        render_previews(bomb, max_pixels=LIMIT)


def test_a_heic_over_the_pixel_limit_is_refused() -> None:
    with pytest.raises(TooManyPixels):
        render_previews(heic((640, 480)), max_pixels=640 * 480 - 1)


@pytest.mark.parametrize(
    "data", [b"plain text, no image" * 5, phone_jpeg()[:5000], b"\x89PNG\r\n\x1a\n" + b"\x00" * 40]
)
def test_what_is_no_whole_image_is_undecodable(data: bytes) -> None:
    with pytest.raises(Undecodable):
        render_previews(data, max_pixels=LIMIT)


# --- print check -------------------------------------------------------------------------------


def test_effective_dpi_fills_the_print_and_follows_the_image_orientation() -> None:
    # 6000 x 4000 on a 6 x 4 inch print: 1000 dpi either way round.
    assert effective_dpi(6000, 4000, 152.4, 101.6) == pytest.approx(1000)
    assert effective_dpi(4000, 6000, 152.4, 101.6) == pytest.approx(1000)
    # 3:2 image on a square 10 x 10 inch print: the short side fits, the long side is cropped.
    assert effective_dpi(3000, 2000, 254, 254) == pytest.approx(200)
    # 4000 x 3000 on A4 (297 x 210 mm): the long side sets it.
    assert effective_dpi(4000, 3000, 297, 210) == pytest.approx(4000 / (297 / 25.4))


@pytest.mark.parametrize(
    ("width_mm", "height_mm", "dpi", "verdict"),
    [
        (152.4, 101.6, 1000.0, Verdict.GOOD),
        (508, 338.6667, 300.0, Verdict.GOOD),
        (762, 508, 200.0, Verdict.ACCEPTABLE),
        (1016, 677.3333, 150.0, Verdict.ACCEPTABLE),
        (1524, 1016, 100.0, Verdict.LOW),
    ],
)
def test_print_check_verdicts_at_the_default_thresholds(
    width_mm: float, height_mm: float, dpi: float, verdict: Verdict
) -> None:
    check = print_check(6000, 4000, width_mm, height_mm, good_dpi=300, acceptable_dpi=150)
    assert check.dpi == pytest.approx(dpi, abs=0.1)
    assert check.verdict is verdict


def test_print_check_uses_the_thresholds_it_is_given() -> None:
    check = print_check(6000, 4000, 762, 508, good_dpi=180, acceptable_dpi=90)
    assert (check.dpi, check.verdict) == (200.0, Verdict.GOOD)


@pytest.mark.parametrize(
    ("width_mm", "height_mm"),
    [
        (0, 100),
        (-5, 100),
        (float("nan"), 100),
        (100, float("inf")),
        (100, 20_000),
        (5e-324, 100),
        (1e-308, 100),
        (100, 0.999),
    ],
)
def test_print_check_refuses_sizes_that_are_no_print(width_mm: float, height_mm: float) -> None:
    with pytest.raises(ValueError):
        print_check(6000, 4000, width_mm, height_mm, good_dpi=300, acceptable_dpi=150)


def test_print_check_at_the_bounds_answers_finite_figures() -> None:
    """Issue 24: 5e-324 mm divided by zero (a 500) and 1e-308 mm gave dpi Infinity (not JSON); sizes
    are from 1 mm to 10 m, and at the smallest the DPI of a huge image is a finite number."""
    import math

    smallest = print_check(2**31 - 1, 2**31 - 1, 1, 1, good_dpi=300, acceptable_dpi=150)
    assert math.isfinite(smallest.dpi) and smallest.verdict is Verdict.GOOD
    largest = print_check(1, 1, 10_000, 10_000, good_dpi=300, acceptable_dpi=150)
    assert math.isfinite(largest.dpi) and largest.verdict is Verdict.LOW


# --- keys --------------------------------------------------------------------------------------


def test_previews_are_keyed_beside_their_file_and_deleted_with_it() -> None:
    base = keys.object_key("shop-a", "alice", "f1")
    assert keys.preview_key(base, "thumb") == "shop-a/alice/f1.preview.thumb"
    assert keys.image_object_keys(base) == [
        base,
        "shop-a/alice/f1.upload",
        "shop-a/alice/f1.preview.thumb",
        "shop-a/alice/f1.preview.screen",
    ]
    assert keys.object_key_of_preview("shop-a/alice/f1.preview.screen") == base
    assert keys.object_key_of_preview("shop-a/alice/f1.preview.huge") is None
    assert keys.object_key_of_preview(base) is None
    # Reconciliation finds a preview's file item from its key.
    assert keys.parse_object_key("shop-a/alice/f1.preview.thumb") == ("shop-a", "alice", "f1")
    with pytest.raises(ValueError):
        keys.preview_key(base, "huge")
