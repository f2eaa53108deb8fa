"""Seconds of the request-body depth pre-check (imagestore.bodies.json_depth) on hostile bodies.

`python -m benchmarks.json_depth`: for bodies of escaped quotes (`\\"` repeated, no string ever
closes), the old single string pattern '"[^"\\\\]*(?:\\\\.[^"\\\\]*)*"' (issue 24: it restarts at every
escaped quote, quadratic) against today's linear passes. The old pattern is timed only on small
bodies (each doubling of the size about quadruples its time); today's also at the 4 MiB body limit.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import re
import time
from itertools import accumulate

from imagestore.bodies import MAX_BODY_BYTES, json_depth

_OLD_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NESTING = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[{]}")


def old_json_depth(raw: bytes) -> int:
    nesting = _OLD_STRING.sub(b"", raw).translate(_NESTING, _NOT_BRACKETS)
    return max(accumulate(memoryview(nesting).cast("b")), default=0)


def _seconds(function, raw: bytes) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    function(raw)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-max-kb", type=int, default=16, help="largest body the old pattern is timed on")
    args = parser.parse_args()
    print(f"{'body':>10} {'old s':>10} {'new s':>10}")
    size = 2
    while size <= args.old_max_kb:
        raw = b'\\"' * (size * 512)
        print(f"{size:>7} KB {_seconds(old_json_depth, raw):>10.3f} {_seconds(json_depth, raw):>10.4f}")
        size *= 2
    raw = b'\\"' * (MAX_BODY_BYTES // 2)
    print(f"{'4 MiB':>10} {'(hours)':>10} {_seconds(json_depth, raw):>10.4f}")


if __name__ == "__main__":
    main()
