#!/usr/bin/env bash
# CPython 3.12 bytecode for what ships to Lambda (the layer, each service's package).
#
# On Lambda /opt (layers) and /var/task (the function's code) are read-only: Python cannot write
# __pycache__ there, so every cold start compiles each module it imports from source unless the
# package already holds bytecode of the runtime's own version (provider.runtime: python3.12).
#
#   deploy/bytecode.sh which                          the Python 3.12 interpreter used, or exit 1
#   deploy/bytecode.sh compile ROOT RUNTIME_DIR [DIR...]
#       compile ROOT (or the DIRs inside it) to __pycache__/*.cpython-312.pyc, recording each
#       source as RUNTIME_DIR/<path below ROOT> (tracebacks then show /opt/python/..., /var/task/...)
#
# The interpreter: $LAMBDA_PYTHON if set (it must be CPython 3.12), else `python3.12` on PATH, else
# the newest pyenv 3.12 (a pyenv shim answers "command not found" unless 3.12 is the selected
# version); each is run to check it really is 3.12. Without one, `compile` warns and does nothing:
# the build goes on and the package ships without bytecode (cold starts then compile it).
#
# Bytecode of 3.12.x is interchangeable: importlib.util.MAGIC_NUMBER is 3531 (b'\xcb\r\r\n') for
# every 3.12 release (frozen at 3.12.0rc1; CPython's test_importlib asserts it for the branch), so
# the Lambda runtime's 3.12.x accepts what any local 3.12.x writes.
#
# --invalidation-mode unchecked-hash: the pyc carries a hash of its source and flags 0b01
# (hash-based, check_source off), so the runtime uses it without reading the source's mtime, which
# a zip does not keep reliably, and without hashing the source on every import.
set -euo pipefail

is_python312() {
    "$1" -c 'import sys; sys.exit(sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 12))' \
        >/dev/null 2>&1
}

find_python312() {
    if [ -n "${LAMBDA_PYTHON:-}" ]; then
        if is_python312 "$LAMBDA_PYTHON"; then
            echo "$LAMBDA_PYTHON"
            return 0
        fi
        echo "error: LAMBDA_PYTHON=$LAMBDA_PYTHON is not a CPython 3.12 interpreter" >&2
        exit 2
    fi
    local candidate
    if candidate="$(command -v python3.12)" && is_python312 "$candidate"; then
        echo "$candidate"
        return 0
    fi
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    if command -v pyenv >/dev/null 2>&1; then
        pyenv_root="$(pyenv root)"
    fi
    while read -r candidate; do
        if [ -n "$candidate" ] && is_python312 "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done < <(ls -d "$pyenv_root"/versions/3.12*/bin/python3.12 2>/dev/null | sort -rV)
    return 1
}

case "${1:-}" in
which)
    find_python312
    ;;
compile)
    [ $# -ge 3 ] || { echo "usage: $0 compile ROOT RUNTIME_DIR [DIR...]" >&2; exit 2; }
    root="$(cd "$2" && pwd)"
    runtime_dir="$3"
    shift 3
    dirs=("$@")
    [ ${#dirs[@]} -gt 0 ] || dirs=("$root")
    found=0
    python312="$(find_python312)" || found=$?
    [ "$found" != 2 ] || exit 2
    if [ "$found" != 0 ]; then
        echo "warning: no Python 3.12 found (set LAMBDA_PYTHON, or put python3.12 on PATH):" \
            "$root ships without bytecode and every Lambda cold start will compile it" >&2
        exit 0
    fi
    absolute=()
    for dir in "${dirs[@]}"; do absolute+=("$(cd "$dir" && pwd)"); done
    "$python312" -m compileall -q -f -j 0 --invalidation-mode unchecked-hash \
        -s "$root" -p "$runtime_dir" "${absolute[@]}"
    ;;
*)
    echo "usage: $0 which | compile ROOT RUNTIME_DIR [DIR...]" >&2
    exit 2
    ;;
esac
