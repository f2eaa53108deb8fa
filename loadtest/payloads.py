"""What the simulated users send: real JPEGs (the API sniffs type and pixel size) and the
multipart/form-data body of a presigned S3 POST."""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw

DEFAULT_SIZES = ((320, 240), (800, 600), (1600, 1200))


def parse_sizes(spec: str) -> tuple[tuple[int, int], ...]:
    """`"320x240,800x600"` -> ((320, 240), (800, 600))."""
    sizes = []
    for part in spec.split(","):
        if not part.strip():
            continue
        width, sep, height = part.strip().lower().partition("x")
        if not sep or not width.isdigit() or not height.isdigit() or int(width) < 1 or int(height) < 1:
            raise ValueError(f"image size {part.strip()!r} is not WIDTHxHEIGHT")
        sizes.append((int(width), int(height)))
    if not sizes:
        raise ValueError("at least one image size is needed")
    return tuple(sizes)


def photo_jpeg(size: tuple[int, int], seed: int = 0) -> bytes:
    """A valid JPEG that compresses like a photo more than a flat colour does (gradient, shapes, noise)."""
    rng = random.Random(seed)
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(4, max(5, min(width, height) // 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    noise = Image.effect_noise(size, 24).convert("RGB")
    image = Image.blend(image, noise, 0.15)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def photo_set(sizes: Sequence[tuple[int, int]]) -> list[bytes]:
    """One JPEG per size, generated once per Locust process."""
    return [photo_jpeg(size, seed=n) for n, size in enumerate(sizes)]


def multipart_form(fields: Mapping[str, str], file_bytes: bytes, filename: str, content_type: str) -> tuple[bytes, str]:
    """(body, Content-Type header) of a form with `fields` then the file (S3 wants the file last)."""
    boundary = f"----imagestore-loadtest-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    parts.append(file_bytes)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
