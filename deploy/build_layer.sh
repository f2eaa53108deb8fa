#!/usr/bin/env bash
# Build the Lambda layer for the Lambda runtime (python3.12, arm64) into build/layer/python:
# the runtime dependencies of pyproject.toml as manylinux aarch64 wheels (never this machine's
# own builds), then the imagestore package from layer/, compiled to CPython 3.12 bytecode.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
OUT="$ROOT/build/layer"
TARGET="$OUT/python"

# The runtime dependencies are [project.dependencies] of the root pyproject.toml.
mapfile -t DEPS < <("$PYTHON" - "$ROOT/pyproject.toml" <<'PY'
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))
PY
)

rm -rf "$OUT"
mkdir -p "$TARGET"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-compile \
    --platform manylinux2014_aarch64 --only-binary=:all: \
    --python-version 3.12 --implementation cp --abi cp312 \
    --target "$TARGET" "${DEPS[@]}"

cp -R "$ROOT/layer/imagestore" "$TARGET/imagestore"

# Bytecode of the build machine's Python, tests and metadata the runtime never reads.
find "$TARGET" -name __pycache__ -type d -prune -exec rm -rf {} +
find "$TARGET" -name '*.pyc' -delete
rm -rf "$TARGET/bin"

# Lambda's /opt is read-only: without bytecode in the layer every cold start compiles boto3,
# botocore, pydantic and Powertools from source. Compiled here for the runtime (python3.12,
# unchecked-hash pyc, tracebacks naming /opt/python/...); see deploy/bytecode.sh.
"$ROOT/deploy/bytecode.sh" compile "$TARGET" /opt/python

echo "layer: $(du -sh "$OUT" | cut -f1) unpacked in $OUT"
