"""Report the size of every packaged artifact and template (services/*/.serverless)."""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def artifact_sizes(root: Path = ROOT) -> list[tuple[str, int, int]]:
    """(path, bytes on disk, bytes unzipped) of each zip and template of the packaged services."""
    rows = []
    for path in sorted(root.glob("services/*/.serverless/*")):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                unzipped = sum(info.file_size for info in archive.infolist())
        elif path.name.startswith("cloudformation-template-"):
            unzipped = path.stat().st_size
        else:
            continue
        rows.append((str(path.relative_to(root)), path.stat().st_size, unzipped))
    return rows


def format_report(rows: list[tuple[str, int, int]]) -> str:
    lines = [f"{'artifact':<72} {'size':>10} {'unzipped':>10}"]
    lines += [f"{name:<72} {_mib(size):>10} {_mib(unzipped):>10}" for name, size, unzipped in rows]
    return "\n".join(lines) + "\n"


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.2f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--report", type=Path, help="also write the report to this file")
    args = parser.parse_args()
    report = format_report(artifact_sizes())
    print(report, end="")
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report)


if __name__ == "__main__":
    main()
