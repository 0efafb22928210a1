#!/usr/bin/env bash
# Status latency while the GPUs are busy, engines on the engine thread vs on the HTTP thread: the load test
# (test/serve/load.test.ts: generation at twice capacity, status reads at 40/s, /readyz at 10/s, autocannon in
# child processes) run REPS times per mode, alternating, on whatever Dawn adapter this machine has.
#   REPS=3 SERVE_LOAD_SECONDS=20 OUT=bench/results/<name> bash scripts/serve-status-ab.sh
# Writes $OUT/status-ab.jsonl (one line per run: mode, rep, the test's summary) and prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
OUT=${OUT:-/tmp/serve-status-ab}
mkdir -p "$OUT"
npx tsc -p tsconfig.json   # the engine thread runs dist/
: > "$OUT/status-ab.jsonl"
for rep in $(seq 1 "$REPS"); do
  for mode in thread in-process; do
    flag=1; [ "$mode" = in-process ] && flag=0
    line=$(SERVE_ENGINE_THREAD=$flag npx vitest run test/serve/load.test.ts -t 'no 5xx' 2>&1 | grep -oE '\{"rate".*' | tail -1 || true)
    [ -n "$line" ] || { echo "serve-status-ab: the load test printed no summary ($mode, rep $rep)" >&2; exit 1; }
    echo "{\"mode\":\"$mode\",\"rep\":$rep,\"summary\":$line}" >> "$OUT/status-ab.jsonl"
    echo "$mode rep $rep: $line"
  done
done
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log("| engines | runs | status p99 ms (median; each run) | status max ms (median) | /readyz p99 ms (median) | idle floor p99 ms (median) | admitted, all done |");
console.log("|---|---:|---|---:|---:|---:|---|");
for (const mode of ["thread", "in-process"]) {
  const r = rows.filter((x) => x.mode === mode).map((x) => x.summary);
  console.log(`| ${mode} | ${r.length} | ${med(r.map((x) => x.statusP99))} (${r.map((x) => x.statusP99).join(", ")}) | ${med(r.map((x) => x.statusMax))} | ${med(r.map((x) => x.readyP99))} | ${med(r.map((x) => x.idleStatusP99))} | ${r.map((x) => `${x.admitted}/${x.done}`).join(", ")} |`);
}' "$OUT/status-ab.jsonl"
