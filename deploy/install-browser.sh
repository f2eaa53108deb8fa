#!/usr/bin/env bash
# Installs the browser the end-to-end browser tests drive (tests/e2e/test_mobile_browser.py):
# Debian's chromium at /usr/bin/chromium, through apt. Playwright's own browser download is never used.
# Needs root (or sudo); does nothing when chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
