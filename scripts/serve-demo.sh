#!/usr/bin/env bash
# Starts `dit serve` on a model, sends requests with curl through both APIs, follows one over SSE, prints the
# dashboard URL and stops the server gracefully (SIGTERM drains). Usage:
#   bash scripts/serve-demo.sh [model folder] [size]
# Defaults: weights/small-flux at 128x128 when it exists, else the tiny test pipeline at 64x64.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-}"
SIZE="${2:-}"
if [ -z "$MODEL" ]; then
  if [ -d weights/small-flux ]; then MODEL=weights/small-flux; SIZE="${SIZE:-128}"; else MODEL=test/fixtures/tiny-pipelines/flux; SIZE="${SIZE:-64}"; fi
fi
SIZE="${SIZE:-128}"
PORT="${PORT:-8765}"
URL="http://127.0.0.1:$PORT"
[ -f dist/cli/main.js ] || npm run build >/dev/null
node bin/dit.js serve --model "$MODEL" --resolutions "$SIZE" --steps 8 --port "$PORT" --results dit-out/serve-demo --quiet &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "$URL/readyz" >/dev/null && break; sleep 1; done
curl -sf "$URL/readyz"; echo

echo "== OpenAI-compatible: POST /v1/images/generations (answers when done)"
curl -s "$URL/v1/images/generations" -H 'content-type: application/json' \
  -d "{\"prompt\": \"a red circle on a blue background\", \"size\": \"${SIZE}x${SIZE}\", \"response_format\": \"url\"}"; echo

echo "== native: POST /v1/generations (202 + status URL), then SSE progress, status and the image"
ID=$(curl -s "$URL/v1/generations" -H 'content-type: application/json' \
  -d "{\"prompt\": \"a green square\", \"size\": \"${SIZE}x${SIZE}\", \"steps\": 8, \"seed\": 7, \"slo_scale\": 2}" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
echo "id: $ID"
curl -sN "$URL/v1/generations/$ID/events"
curl -s "$URL/v1/generations/$ID"; echo
curl -s -o dit-out/serve-demo/demo.png "$URL/v1/generations/$ID/image" && echo "image: dit-out/serve-demo/demo.png ($(stat -c %s dit-out/serve-demo/demo.png) bytes)"
echo "== metrics (excerpt)"
curl -s "$URL/metrics" | grep -E '^tetriserve_(queue_depth|slo_attainment|gpu_alive|requests_finished_total)' || true
echo "dashboard: $URL/dashboard/   API docs: $URL/docs"
if [ "${KEEP:-0}" = 1 ]; then echo "KEEP=1: server stays up (Ctrl-C to stop)"; wait $PID; fi
