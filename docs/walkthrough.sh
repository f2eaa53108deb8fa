#!/usr/bin/env bash
# The README's curl walk-through as one script: every id is taken from the answer that made it.
# Run it against a running local stack (`make run`, or PORT=31xx make run and the same PORT here):
#
#     bash docs/walkthrough.sh                      # http://127.0.0.1:${PORT:-3000}
#     API=http://127.0.0.1:3100 bash docs/walkthrough.sh
#
# It needs curl and jq; tokens come from the local stack's CLI (IMAGESTORE_LOCAL, default
# .venv/bin/imagestore-local), signed with IMAGESTORE_JWT_SECRET when set (the stack's secret).
# Every step checks its status and exits non-zero with the answer when one differs.
# tests/local/test_walkthrough.py runs it against a stack of its own.
set -euo pipefail

API=${API:-http://127.0.0.1:${PORT:-3000}}
CLI=${IMAGESTORE_LOCAL:-.venv/bin/imagestore-local}
PYTHON=${PYTHON:-.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "walkthrough: $tool is not installed" >&2; exit 2; }
done
if ! curl -s -o /dev/null --max-time 5 "$API/openapi.json"; then
  echo "walkthrough: no local stack answers at $API; start it with 'make run' (or set API / PORT)" >&2
  exit 2
fi

TOKEN=$("$CLI" token --tenant t1 --user "walker-$$")
TOKEN2=$("$CLI" token --tenant t1 --user "recipient-$$")
AUTH="Authorization: Bearer $TOKEN"
JSON='Content-Type: application/json'

# call EXPECTED_STATUS METHOD PATH [curl args...]: the answer's body on stdout (and in $WORK/last.json)
call() {
  local expected=$1 method=$2 path=$3
  shift 3
  local status
  status=$(curl -s -o "$WORK/last.json" -w '%{http_code}' -X "$method" "$API$path" "$@")
  if [ "$status" != "$expected" ]; then
    echo "walkthrough: $method $path answered $status, not $expected:" >&2
    cat "$WORK/last.json" >&2
    echo >&2
    exit 1
  fi
  cat "$WORK/last.json"
}

step() { echo "== $*"; }

# --- an upload ---------------------------------------------------------------------------------------
step "1. ask for an upload (a presigned POST pinning the key, the type and the size)"
"$PYTHON" -c "from PIL import Image; Image.new('RGB', (640, 480), 'red').save('$WORK/photo.jpg')"
SIZE=$(stat -c %s "$WORK/photo.jpg")
call 201 POST /uploads -H "$AUTH" -H "$JSON" -H "Idempotency-Key: walk-upload-$$" \
  -d "{\"filename\":\"photo.jpg\",\"contentType\":\"image/jpeg\",\"sizeBytes\":$SIZE}" > "$WORK/upload.json"
FILE_ID=$(jq -r .fileId "$WORK/upload.json")
echo "fileId $FILE_ID"

step "1b. the same request with the same Idempotency-Key answers the same ticket"
call 201 POST /uploads -H "$AUTH" -H "$JSON" -H "Idempotency-Key: walk-upload-$$" \
  -d "{\"filename\":\"photo.jpg\",\"contentType\":\"image/jpeg\",\"sizeBytes\":$SIZE}" > "$WORK/again.json"
[ "$(jq -r .fileId "$WORK/again.json")" = "$FILE_ID" ] || { echo "walkthrough: the replay named another file" >&2; exit 1; }

step "2. send the bytes straight to S3 with the returned url and fields"
mapfile -t FIELDS < <(jq -r '.upload.fields | to_entries[] | "-F", "\(.key)=\(.value)"' "$WORK/upload.json")
S3_STATUS=$(curl -s -o /dev/null -w '%{http_code}' "${FIELDS[@]}" -F "file=@$WORK/photo.jpg" \
  "$(jq -r .upload.url "$WORK/upload.json")")
[ "$S3_STATUS" = 204 ] || { echo "walkthrough: S3 answered $S3_STATUS to the presigned POST" >&2; exit 1; }

step "3. complete: the API checks the bytes and makes the file available"
call 200 POST "/uploads/$FILE_ID/complete" -H "$AUTH" | jq -c '{fileId, status, width, height}'

step "4. read it back: a short-lived download URL, then the same bytes"
URL=$(call 200 GET "/files/$FILE_ID" -H "$AUTH" | jq -r .downloadUrl)
curl -s -o "$WORK/copy.jpg" "$URL"
cmp "$WORK/photo.jpg" "$WORK/copy.jpg" && echo "same bytes"

step "5. list the files (paginated: ?limit=&cursor=)"
call 200 GET "/files?limit=20" -H "$AUTH" | jq -c '{items: (.items | length), nextCursor}'

# --- a project -------------------------------------------------------------------------------------
step "6. save a project that holds the file"
call 201 POST /projects -H "$AUTH" -H "$JSON" -H "Idempotency-Key: walk-project-$$" \
  -d "{\"name\":\"Holiday\",\"productType\":\"photobook\",\"document\":{\"pages\":[\"$FILE_ID\"]},\"fileIds\":[\"$FILE_ID\"]}" \
  > "$WORK/project.json"
PROJECT_ID=$(jq -r .projectId "$WORK/project.json")
echo "projectId $PROJECT_ID version $(jq -r .version "$WORK/project.json")"
call 200 GET /projects -H "$AUTH" | jq -c '[.items[].projectId]'

step "7. load it; with If-None-Match of the version we have, 304 and no body"
ETAG=$(curl -s -D - -o /dev/null "$API/projects/$PROJECT_ID" -H "$AUTH" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
echo "ETag $ETAG"
call 304 GET "/projects/$PROJECT_ID" -H "$AUTH" -H "If-None-Match: $ETAG" > /dev/null

step "8. save version 2 with If-Match; a stale If-Match is 412"
call 200 PUT "/projects/$PROJECT_ID" -H "$AUTH" -H "$JSON" -H "If-Match: $ETAG" \
  -d "{\"name\":\"Holiday\",\"productType\":\"photobook\",\"document\":{\"pages\":[\"$FILE_ID\",\"$FILE_ID\"]},\"fileIds\":[\"$FILE_ID\"]}" \
  | jq -c '{projectId, version}'
call 412 PUT "/projects/$PROJECT_ID" -H "$AUTH" -H "$JSON" -H "If-Match: $ETAG" \
  -d '{"name":"Holiday","productType":"photobook","document":{},"fileIds":[]}' | jq -c .error

step "9. the held file cannot be deleted"
call 409 DELETE "/files/$FILE_ID" -H "$AUTH" | jq -c .error

# --- sharing ---------------------------------------------------------------------------------------
step "10. share it (copy mode); the recipient views it and copies it"
call 201 POST "/projects/$PROJECT_ID/shares" -H "$AUTH" -H "$JSON" -d '{"mode":"copy","expiresInDays":7}' \
  > "$WORK/share.json"
SHARE_ID=$(jq -r .shareId "$WORK/share.json")
SHARE_TOKEN=$(jq -r .token "$WORK/share.json")
call 200 GET "/projects/$PROJECT_ID/shares" -H "$AUTH" | jq -c '[.items[].shareId]'
call 200 GET "/shares/$SHARE_TOKEN" -H "Authorization: Bearer $TOKEN2" | jq -c '{shareId, mode, project: .project.projectId}'
COPY_ID=$(call 201 POST "/shares/$SHARE_TOKEN/copies" -H "Authorization: Bearer $TOKEN2" | jq -r .projectId)
echo "the recipient's copy: $COPY_ID"
call 204 DELETE "/projects/$PROJECT_ID/shares/$SHARE_ID" -H "$AUTH" > /dev/null
call 404 GET "/shares/$SHARE_TOKEN" -H "Authorization: Bearer $TOKEN2" | jq -c .error

# --- cart items and orders ---------------------------------------------------------------------------
step "11. keep a cart item, then order it"
CART_ITEM_ID=$(call 201 POST /cart-items -H "$AUTH" -H "$JSON" -H "Idempotency-Key: walk-cart-$$" \
  -d "{\"projectId\":\"$PROJECT_ID\",\"productSku\":\"BOOK-A4\",\"quantity\":1,\"externalCartId\":\"shop-cart-$$\"}" \
  | jq -r .cartItemId)
echo "cartItemId $CART_ITEM_ID"
call 200 GET "/cart-items?limit=25" -H "$AUTH" | jq -c '[.items[].cartItemId]'
call 200 GET "/cart-items?externalCartId=shop-cart-$$" -H "$AUTH" | jq -c '[.items[].cartItemId]'
ORDER_ID=$(call 201 POST /orders -H "$AUTH" -H "$JSON" \
  -d "{\"cartItemIds\":[\"$CART_ITEM_ID\"],\"externalOrderRef\":\"shop-$$\"}" | jq -r .orderId)
echo "orderId $ORDER_ID"
call 200 GET /orders -H "$AUTH" | jq -c '[.items[].orderId]'
call 200 GET "/orders/$ORDER_ID" -H "$AUTH" | jq -c '{orderId, status, projects: [.projects[].projectId]}'
call 202 POST "/orders/$ORDER_ID/resubmissions" -H "$AUTH" | jq -c '{resubmissionId, files: (.manifest | length)}'

# --- a phone upload --------------------------------------------------------------------------------
step "12. open a mobile upload for a phone; list it; revoke it"
MOBILE_UPLOAD_ID=$(call 201 POST /mobile-uploads -H "$AUTH" -H "$JSON" -d '{"retention":"session"}' \
  | jq -r .mobileUploadId)
call 200 GET /mobile-uploads -H "$AUTH" | jq -c '[.items[].mobileUploadId]'
call 204 DELETE "/mobile-uploads/$MOBILE_UPLOAD_ID" -H "$AUTH" > /dev/null

# --- errors carry the request id -----------------------------------------------------------------------
step "13. an error names its request"
call 404 GET /projects/no-such-project -H "$AUTH" | jq -c '.error | {code, requestId}'

step "14. delete the project (the order and the copy keep the versions they pinned)"
call 204 DELETE "/projects/$PROJECT_ID" -H "$AUTH" > /dev/null
echo "walkthrough: done"
