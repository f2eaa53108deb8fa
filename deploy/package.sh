#!/usr/bin/env bash
# Package the three services offline (`make package`): the CloudFormation templates and artifacts
# land in services/*/.serverless/. No AWS account is used: packaging a service with `layers:`
# calls CloudFormation DescribeStacks, which a local moto server answers with "stack does not
# exist", and osls compose reads the file service's outputs from a seeded local state file.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
STAGE="${STAGE:-dev}"
REGION="${REGION:-eu-west-1}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3

if [ ! -x node_modules/.bin/osls ] || [ ! -x node_modules/.bin/osls-compose ]; then
    npm ci --no-audit --no-fund
fi
[ "${SKIP_LAYER:-0}" = 1 ] || deploy/build_layer.sh

# Fake credentials and every AWS endpoint on the local moto server: nothing can reach an account.
PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$ROOT/build"
"$PYTHON" -m moto.server -H 127.0.0.1 -p "$PORT" >"$ROOT/build/moto-package.log" 2>&1 &
MOTO_PID=$!
STATE_FILE="$ROOT/.serverless/state.$STAGE.json"
SEEDED=0
cleanup() {
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    if [ "$SEEDED" = 1 ]; then rm -f "$STATE_FILE"; fi
    find services/*/*_service -path '*/__pycache__/*.cpython-312.pyc' -delete 2>/dev/null || true
}
trap cleanup EXIT
"$PYTHON" - "$PORT" <<'PY'
import sys
import time
import urllib.request

for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("moto server did not start; see build/moto-package.log")
PY

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"
unset AWS_SESSION_TOKEN AWS_PROFILE
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ENDPOINT_URL_CLOUDFORMATION="http://127.0.0.1:$PORT"
export SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off SLS_DISABLE_AUTO_UPDATE=1

# Compose resolves ${file.<Output>} from its local state. A state file left by a real
# `osls-compose deploy` is kept and used as it is; otherwise outputs shaped like the file
# service's are seeded for this run and removed afterwards.
if [ ! -f "$STATE_FILE" ]; then
    "$PYTHON" deploy/compose_state.py --stage "$STAGE" --region "$REGION" --output "$STATE_FILE"
    SEEDED=1
fi

# Lambda's /var/task is read-only: each service's package ships CPython 3.12 bytecode of its code
# (the serverless.yml patterns take __pycache__/*.cpython-312.pyc, not the local interpreter's).
# The unchecked-hash pyc files are removed from the source tree again on exit: a local Python 3.12
# would use them without noticing that the source changed.
for service in file project scheduler; do
    deploy/bytecode.sh compile "services/$service" /var/task "services/$service/${service}_service"
done
rm -rf services/*/.serverless
npx --no-install osls-compose package --stage "$STAGE"

"$PYTHON" deploy/artifacts.py --report build/artifacts.txt
