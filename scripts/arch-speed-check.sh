#!/usr/bin/env bash
# Speed check of the architecture refactor (issue 8): one FLUX.1-dev 1024² denoising step (random weights), old
# code (commit d684222, before the refactor) against this tree, alternating, in one run on one GPU. Passes when
# the new median step time is within 3% of the old one. Results: $OUT/arch-speed.json (+ each run's model.json).
#
#   bash scripts/arch-speed-check.sh                     # with git: the old tree comes from `git archive d684222`
#   OLD_TARBALL=.arch-old.tar.gz bash scripts/arch-speed-check.sh   # without git on the GPU machine: a tarball
#     made beforehand with: git archive --format=tar.gz -o .arch-old.tar.gz d684222 src bin package.json tsconfig.json
# Env: BASE_COMMIT (d684222), ROUNDS (2: old,new,old,new), REPS (10 timed steps per run), RES (1024), OUT (/tmp/out).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/out}
BASE=${BASE_COMMIT:-d684222}
ROUNDS=${ROUNDS:-2}
REPS=${REPS:-10}
export RES=${RES:-1024}
OLD=${OLD_TREE:-/tmp/arch-speed-old}
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
TSC="node $ROOT/node_modules/typescript/bin/tsc"

if [ ! -f "$OLD/src/cli/main.ts" ]; then
  mkdir -p "$OLD"
  if [ -n "${OLD_TARBALL:-}" ]; then
    (cd "$ROOT" && tar -xzf "$OLD_TARBALL" -C "$OLD") || { echo "cannot unpack $OLD_TARBALL"; exit 2; }
  elif git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$ROOT" archive "$BASE" src bin package.json tsconfig.json | tar -x -C "$OLD" || { echo "git archive $BASE failed"; exit 2; }
  else
    echo "no git here and no OLD_TARBALL: make one with 'git archive --format=tar.gz -o .arch-old.tar.gz $BASE src bin package.json tsconfig.json'"
    exit 2
  fi
fi
ln -sfn "$ROOT/node_modules" "$OLD/node_modules"
(cd "$OLD" && $TSC -p tsconfig.json) || { echo "old build failed"; exit 1; }
(cd "$ROOT" && $TSC -p tsconfig.json) || echo "new build reported type errors (emitted anyway); continuing"

run() { # $1 = old|new, $2 = round
  local dir=$([ "$1" = old ] && echo "$OLD" || echo "$ROOT")
  local out="$OUT/arch-speed-$1-$2"
  echo "=== $1 round $2 $(date -u +%FT%TZ)"
  (cd "$dir" && DIT_ALLOW_STALE_BUILD=1 node bin/dit.js bench model --flux "$RES" --sd3 '' --reps "$REPS" --out "$out" 2>&1 | grep -v -i warning | tail -3)
}
for r in $(seq 1 "$ROUNDS"); do run old "$r"; run new "$r"; done

node --input-type=module - "$OUT" "$ROUNDS" <<'JS'
import { readFileSync, writeFileSync } from 'node:fs';
const [out, rounds] = [process.argv[2], Number(process.argv[3])];
const ms = (v) => Array.from({ length: rounds }, (_, i) => {
  try { return JSON.parse(readFileSync(`${out}/arch-speed-${v}-${i + 1}/model.json`, 'utf8')).rows[0].medianMs; } catch { return NaN; }
});
const median = (a) => { const s = a.filter(Number.isFinite).sort((x, y) => x - y); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN; };
const old = ms('old'), nu = ms('new');
const ratio = median(nu) / median(old);
const result = { model: 'FLUX.1-dev', resolution: Number(process.env.RES ?? 1024), oldMs: old, newMs: nu, oldMedianMs: median(old), newMedianMs: median(nu), ratio, withinThreePercent: ratio <= 1.03 };
writeFileSync(`${out}/arch-speed.json`, JSON.stringify(result, null, 1));
console.log(JSON.stringify(result));
process.exit(Number.isFinite(ratio) && ratio <= 1.03 ? 0 : 1);
JS
