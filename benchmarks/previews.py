"""Seconds and peak memory of the preview function's work per image (`make bench-previews`).

For a 24 MP JPEG (6000 x 4000, EXIF orientation 6), a 12 MP HEIC (4032 x 3024) and a 100 MP PNG
(10000 x 10000), all made here, each measured in a fresh process pinned to one core:
- previews: imagestore.previews.render_previews (both previews, encoded), what the function runs;
- naive: the same image decoded whole, turned upright whole (ImageOps.exif_transpose), converted to
  RGB, resized to each preview's size from the full image, encoded: the straightforward way.
Time is the median of --rounds runs in that process; peak memory is the process's peak resident set
over the runs (VmHWM, reset just before the first run), and its growth over what was resident before
it (the interpreter, Pillow and the image's bytes). The ratio is naive / previews time, same image, same run.
Also printed: the import time of Pillow, pillow-heif and imagestore.previews in a fresh interpreter
(what the function's cold start adds when it first makes previews).
Goal (issue 18): the 24 MP JPEG's two previews in <= 0.5 s on one core and <= 512 MB peak, >= 3x
faster than the naive path.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 100_000_000
GOAL_SECONDS, GOAL_MB, GOAL_RATIO = 0.5, 512, 3.0


def make_images(directory: Path) -> dict[str, Path]:
    """The three test images, photo-like (smooth gradients and grain, not flat colour)."""
    from PIL import Image

    def photo(width: int, height: int) -> Image.Image:
        gradient = Image.linear_gradient("L")
        channels = [
            gradient.resize((width, height)),
            gradient.rotate(90).resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
        ]
        # Sensor grain, so that JPEG and PNG have as much to code as on a photo (uniform noise, 10 %).
        grain = Image.frombytes("L", (width, height), random.Random(18).randbytes(width * height))
        return Image.merge("RGB", [Image.blend(c, grain, 0.1) for c in channels])

    paths = {}
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[0x9003] = "2024:07:14 18:30:05"
    paths["jpeg-24mp"] = directory / "24mp.jpg"
    photo(6000, 4000).save(paths["jpeg-24mp"], format="JPEG", quality=90, exif=exif)

    import pillow_heif

    paths["heic-12mp"] = directory / "12mp.heic"
    pillow_heif.from_pillow(photo(4032, 3024)).save(paths["heic-12mp"], quality=80)

    paths["png-100mp"] = directory / "100mp.png"
    photo(10000, 10000).save(paths["png-100mp"], format="PNG", compress_level=1)
    return paths


def run_one(path: str, mode: str, rounds: int) -> dict[str, Any]:
    """In this (fresh) process: time `mode` on the image at path, report time and peak memory."""
    with open(path, "rb") as f:
        data = f.read()
    from PIL import Image, ImageOps

    from imagestore.previews import PREVIEW_SIZES, fit_within, render_previews

    Image.MAX_IMAGE_PIXELS = None
    import pillow_heif

    pillow_heif.register_heif_opener()

    def naive() -> None:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image).convert("RGB")
            for longest in PREVIEW_SIZES.values():
                resized = upright.resize(fit_within(*upright.size, longest), Image.Resampling.LANCZOS)
                resized.save(io.BytesIO(), format="JPEG", quality=82)

    def previews() -> None:
        render_previews(data, max_pixels=LIMIT)

    work = previews if mode == "previews" else naive
    before = _reset_peak()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    peak = _status_mb("VmHWM")
    return {"seconds": statistics.median(times), "best": min(times), "peakMb": peak, "growthMb": peak - before}


def _status_mb(field: str) -> float:
    """A figure of /proc/self/status (VmRSS: resident now, VmHWM: peak resident) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> float:
    """Reset the peak resident set to what is resident now (Linux clear_refs 5); returns it in MB."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def child(path: Path, mode: str, rounds: int, cpu: int | None) -> dict[str, Any]:
    code = (
        "import json, sys; from benchmarks.previews import run_one; "
        f"print(json.dumps(run_one({str(path)!r}, {mode!r}, {rounds})))"
    )
    command = [sys.executable, "-c", code]
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        command = ["taskset", "-c", str(cpu), *command]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layer")])}
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def import_seconds() -> float:
    code = (
        "import time; s = time.perf_counter(); import PIL.Image, PIL.ImageCms, pillow_heif, imagestore.previews; "
        "print(time.perf_counter() - s)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layer")}
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout)
        for _ in range(3)
    ]
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="timed runs per image and path (median)")
    parser.add_argument("--cpu", type=int, default=0, help="core the measuring processes are pinned to")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    import PIL
    import pillow_heif

    rows = []
    with tempfile.TemporaryDirectory(prefix="imagestore-previews-") as tmp:
        # Made in a child process: this one stays small, so its children start small.
        code = (
            "import json, sys; from pathlib import Path; from benchmarks.previews import make_images; "
            f"print(json.dumps({{k: str(v) for k, v in make_images(Path({tmp!r})).items()}}))"
        )
        made = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        ).stdout
        images = {name: Path(path) for name, path in json.loads(made.strip().splitlines()[-1]).items()}
        for name, path in images.items():
            ours = child(path, "previews", args.rounds, args.cpu)
            naive = child(path, "naive", args.rounds, args.cpu)
            rows.append(
                {
                    "image": name,
                    "bytes": path.stat().st_size,
                    "previews": ours,
                    "naive": naive,
                    "ratio": naive["seconds"] / ours["seconds"],
                }
            )
    imports = import_seconds()
    if args.json:
        print(json.dumps({"rows": rows, "importSeconds": imports}, indent=2))
        return 0
    print(
        f"previews (thumb <= 320 px + screen <= 1600 px, JPEG) per image, one core, median of {args.rounds};"
        f" Pillow {PIL.__version__}, pillow-heif {pillow_heif.__version__}"
    )
    print(
        f"{'image':<11} {'MB':>6} | {'previews s':>10} {'peak MB':>8} {'+MB':>6} | "
        f"{'naive s':>8} {'peak MB':>8} {'+MB':>6} | {'ratio':>5}"
    )
    for row in rows:
        ours, naive = row["previews"], row["naive"]
        print(
            f"{row['image']:<11} {row['bytes'] / 1e6:6.1f} | {ours['seconds']:10.3f} {ours['peakMb']:8.0f} "
            f"{ours['growthMb']:6.0f} | {naive['seconds']:8.3f} {naive['peakMb']:8.0f} {naive['growthMb']:6.0f} | "
            f"{row['ratio']:5.1f}x"
        )
    print(
        "load average of the machine (1, 5, 15 min) after the run: "
        + ", ".join(f"{v:.1f}" for v in os.getloadavg())
        + f" on {os.cpu_count()} cores"
    )
    print(f"import of Pillow + ImageCms + pillow-heif + imagestore.previews (fresh interpreter): {imports:.3f} s")
    jpeg = next(r for r in rows if r["image"] == "jpeg-24mp")
    checks = [
        (
            "24 MP JPEG seconds",
            jpeg["previews"]["seconds"],
            f"<= {GOAL_SECONDS}",
            jpeg["previews"]["seconds"] <= GOAL_SECONDS,
        ),
        ("24 MP JPEG peak MB", jpeg["previews"]["peakMb"], f"<= {GOAL_MB}", jpeg["previews"]["peakMb"] <= GOAL_MB),
        ("24 MP JPEG ratio to naive", jpeg["ratio"], f">= {GOAL_RATIO}", jpeg["ratio"] >= GOAL_RATIO),
    ]
    for label, value, goal, met in checks:
        print(f"goal {label}: {value:.2f} ({goal}) {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
