"""Previews of an image (thumb, screen) and what the preview function learns on the way: the displayed
size, the capture time; and the print-check arithmetic. Pure logic: bytes in, bytes out, no boto3.

Decoding stays within the tenant's pixel limit (checked from the header, before any pixel is
decoded) and within the function's memory: a JPEG is decoded at reduced scale (draft mode: 1/2 to 1/8
as the libjpeg DCT allows) to the smallest size still at least as large as the screen preview, so a
24 MP photo is never decoded whole. HEIC/HEIF (libheif through pillow-heif), PNG and WebP have no
reduced decode and are decoded whole. The orientation of EXIF is applied, CMYK, 16-bit, palette and
alpha images become sRGB 8-bit (an embedded ICC profile is converted to sRGB), an animated image
gives its first frame, and the previews carry no metadata at all (no EXIF, no GPS, no ICC).
"""

from __future__ import annotations

import io
import math
import re
import struct
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from imagestore.imaging import sniff_type

if TYPE_CHECKING:
    from PIL.Image import Image

PREVIEW_SIZES: dict[str, int] = {"thumb": 320, "screen": 1600}  # longest side, in pixels
PREVIEW_CONTENT_TYPE = "image/jpeg"
JPEG_QUALITY = {"thumb": 80, "screen": 82}
MM_PER_INCH = 25.4
MIN_PRINT_MM = 1.0  # 1 mm: a smaller print is no print (and 5e-324 mm would divide by zero)
MAX_PRINT_MM = 10_000.0  # 10 m: any larger print size is a mistake, not a product

_ORIENTATION_TAG = 0x0112
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_SWAPS_SIDES = {5, 6, 7, 8}  # orientations that turn the stored image by 90 degrees


class PreviewError(Exception):
    """The image cannot be made into previews; retrying will not help."""


class TooManyPixels(PreviewError):
    """The header declares more pixels than the tenant allows (a decompression bomb, or just too big)."""


class Undecodable(PreviewError):
    """Not an image we read, or its data is damaged."""


class Verdict(StrEnum):
    GOOD = "good"
    ACCEPTABLE = "acceptable"
    LOW = "low"


@dataclass(frozen=True)
class Preview:
    name: str
    data: bytes
    width: int
    height: int
    content_type: str = PREVIEW_CONTENT_TYPE


@dataclass(frozen=True)
class Rendered:
    """What the preview function stores: the previews, the displayed size and the capture time."""

    width: int  # of the original, as displayed (orientation applied)
    height: int
    taken_at: str | None  # EXIF DateTimeOriginal as ISO 8601 (with its offset when EXIF has one)
    previews: tuple[Preview, ...]


def fit_within(width: int, height: int, longest: int) -> tuple[int, int]:
    """The size of width x height scaled so that its longest side is at most `longest`; never larger."""
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def preview_sizes(width: int, height: int) -> dict[str, tuple[int, int]]:
    """Every preview's size for an image displayed at width x height."""
    return {name: fit_within(width, height, longest) for name, longest in PREVIEW_SIZES.items()}


def render_previews(data: bytes, *, max_pixels: int) -> Rendered:
    """Decode `data` (JPEG, PNG, WebP, HEIC/HEIF) once, at reduced scale where the format allows, and
    encode every preview. Raises TooManyPixels before decoding an image over max_pixels, Undecodable
    for anything that is not a whole image."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    PILImage.MAX_IMAGE_PIXELS = None  # the tenant's max_pixels is checked right after open instead
    content_type = sniff_type(data[:64])
    if content_type is None:
        raise Undecodable("not a JPEG, PNG, WebP or HEIC image")
    if content_type == "image/heic":
        _check_heif_pixels(data, max_pixels)
        from pillow_heif import register_heif_opener

        register_heif_opener()
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            stored_width, stored_height = image.size
            if stored_width * stored_height > max_pixels:
                raise TooManyPixels(
                    f"the image has {stored_width} x {stored_height} pixels, over the limit of {max_pixels}"
                )
            exif = image.getexif()
            orientation = int(exif.get(_ORIENTATION_TAG, 1) or 1)
            if orientation not in range(1, 9):
                orientation = 1
            taken_at = capture_time(exif)
            swapped = orientation in _SWAPS_SIDES
            width, height = (stored_height, stored_width) if swapped else (stored_width, stored_height)
            screen_w, screen_h = fit_within(width, height, PREVIEW_SIZES["screen"])
            if image.format == "JPEG":
                # The smallest DCT scale whose result still covers the screen preview (in stored axes).
                image.draft(
                    image.mode if image.mode in ("RGB", "L", "CMYK") else "RGB",
                    (screen_h, screen_w) if swapped else (screen_w, screen_h),
                )
            image.seek(0)  # the first frame of an animated image
            image.load()
            icc = image.info.get("icc_profile")
            frame = _to_srgb_8bit(image, icc)
    except PreviewError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise Undecodable(f"the image cannot be decoded: {exc}") from exc
    except PILImage.DecompressionBombError as exc:  # pragma: no cover - MAX_IMAGE_PIXELS is ours to check
        raise TooManyPixels(str(exc)) from exc

    previews: list[Preview] = []
    source = frame
    for name, longest in sorted(PREVIEW_SIZES.items(), key=lambda item: -item[1]):
        target_w, target_h = fit_within(width, height, longest)
        stored_target = (target_h, target_w) if swapped else (target_w, target_h)
        resized = (
            source
            if source.size == stored_target
            else source.resize(stored_target, PILImage.Resampling.LANCZOS, reducing_gap=3.0)
        )
        source = resized  # the next (smaller) preview is made from this one
        shown = _orient(resized, orientation)
        previews.append(
            Preview(name=name, data=_encode_jpeg(shown, JPEG_QUALITY[name]), width=shown.size[0], height=shown.size[1])
        )
    return Rendered(
        width=width,
        height=height,
        taken_at=taken_at,
        previews=tuple(sorted(previews, key=lambda p: PREVIEW_SIZES[p.name])),
    )


def capture_time(exif: object) -> str | None:
    """EXIF DateTimeOriginal ('YYYY:MM:DD HH:MM:SS') as ISO 8601, with OffsetTimeOriginal when
    present; None when absent or not a valid date."""
    get_ifd = getattr(exif, "get_ifd", None)
    if get_ifd is None:
        return None
    try:
        ifd = get_ifd(_EXIF_IFD)
    except (KeyError, ValueError, OSError, struct.error):
        return None
    raw = ifd.get(_DATETIME_ORIGINAL)
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "ignore")
    if not isinstance(raw, str):
        return None
    try:
        taken = datetime.strptime(raw.strip().rstrip("\x00")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = ifd.get(_OFFSET_TIME_ORIGINAL)
    if isinstance(offset, bytes):
        offset = offset.decode("ascii", "ignore")
    suffix = ""
    if isinstance(offset, str):
        offset = offset.strip().rstrip("\x00")
        if re.fullmatch(r"[+-]\d\d:\d\d", offset):
            suffix = "Z" if offset in ("+00:00", "-00:00") else offset
    return taken.isoformat() + suffix


def _check_heif_pixels(data: bytes, max_pixels: int) -> None:
    """HEIF: every top-level image (a grid counts as its canvas) within max_pixels, from the header."""
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        largest = max(image.size[0] * image.size[1] for image in heif)
    except (ValueError, RuntimeError, OSError, struct.error) as exc:
        raise Undecodable(f"the HEIF image cannot be read: {exc}") from exc
    if largest > max_pixels:
        raise TooManyPixels(f"the image has {largest} pixels, over the limit of {max_pixels}")


def _to_srgb_8bit(image: Image, icc: bytes | None) -> Image:
    """An RGB (or L) 8-bit image in sRGB: ICC profile converted, CMYK and 16-bit reduced, alpha laid on white."""
    from PIL import Image as PILImage

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale: scale to 8 bits (convert() alone would clip at 255).
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = PILImage.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    if icc and image.mode in ("RGB", "CMYK"):
        converted = _icc_to_srgb(image, icc)
        if converted is not None:
            return converted
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    return image


def _icc_to_srgb(image: Image, icc: bytes) -> Image | None:
    """The image converted from its embedded profile to sRGB, or None when the profile is unusable."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _orient(image: Image, orientation: int) -> Image:
    """The image as EXIF orientation `orientation` says it is displayed."""
    from PIL import Image as PILImage

    transpose = PILImage.Transpose
    steps = {
        2: [transpose.FLIP_LEFT_RIGHT],
        3: [transpose.ROTATE_180],
        4: [transpose.FLIP_TOP_BOTTOM],
        5: [transpose.TRANSPOSE],
        6: [transpose.ROTATE_270],
        7: [transpose.TRANSVERSE],
        8: [transpose.ROTATE_90],
    }.get(orientation, [])
    for step in steps:
        image = image.transpose(step)
    return image


def _encode_jpeg(image: Image, quality: int) -> bytes:
    """Baseline JPEG with no metadata: no EXIF, no ICC profile, no comment."""
    image.info.clear()
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=False, progressive=False)
    return out.getvalue()


# --- print check -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrintCheck:
    dpi: float
    verdict: Verdict


def effective_dpi(width_px: int, height_px: int, width_mm: float, height_mm: float) -> float:
    """Pixels per inch of an image printed at width_mm x height_mm as a photo-product editor places it:
    the print is turned to the image's orientation (a portrait photo on a portrait print), and the
    image fills the whole print, the excess cropped; the side that fits exactly sets the resolution."""
    long_px, short_px = max(width_px, height_px), min(width_px, height_px)
    long_mm, short_mm = max(width_mm, height_mm), min(width_mm, height_mm)
    return min(long_px / (long_mm / MM_PER_INCH), short_px / (short_mm / MM_PER_INCH))


def print_check(
    width_px: int, height_px: int, width_mm: float, height_mm: float, *, good_dpi: float, acceptable_dpi: float
) -> PrintCheck:
    """The effective DPI and its verdict against the tenant's thresholds."""
    for name, value in (("widthMm", width_mm), ("heightMm", height_mm)):
        if not (math.isfinite(value) and MIN_PRINT_MM <= value <= MAX_PRINT_MM):
            raise ValueError(f"{name} must be a number of millimetres from {MIN_PRINT_MM:g} to {MAX_PRINT_MM:g}")
    dpi = round(effective_dpi(width_px, height_px, width_mm, height_mm), 1)  # the verdict of the figure shown
    if not math.isfinite(dpi):  # not for any size in bounds and pixel count we store; never answered as JSON
        raise ValueError(f"no finite DPI for {width_mm:g} x {height_mm:g} mm")
    verdict = Verdict.GOOD if dpi >= good_dpi else Verdict.ACCEPTABLE if dpi >= acceptable_dpi else Verdict.LOW
    return PrintCheck(dpi=dpi, verdict=verdict)
