#!/usr/bin/env bash
# One nvidia-h200-x2 call (fourth session, 2026-11-30), ~8 minutes, two parts:
#   1. GPU 0 (issue 13): the matmul tests on the real tensor cores (vec4<u32> staging arrays among the tilings), then
#      bench/matmul-tune.ts --ablate: the default tiling's time split into MMA / fragment loads / staging / barriers /
#      epilogue, with f16 and with vec4 staging arrays, then the sweep (vec4-staged tilings first) and its table.
#      GPU 1 meanwhile (issue 13): bench/attention-tune.ts, re-run with the clock fix (busy period before timing).
#   2. Both GPUs (issue 11): scripts/gpu-call-status-ab.sh, status latency while both H200s serve FLUX.1-dev, engines
#      on the engine thread, then on the HTTP thread (same trace).
# Carry: .gpu (GPU_PACK_PROFILE=tests-run scripts/gpu-pack.sh: test runner and sharp), dist, native/nccl-bridge/build,
# results/tmp/bench-build (the sweeps, built here with bench/matmul-tune.ts's tsc line plus --strict).
# Everything lands in $OUT/results.tgz.
source scripts/lib/gpu-call-prelude.sh
[ -f results/tmp/bench-build/bench/matmul-tune.js ] || echo "no bench build: carry results/tmp/bench-build (tsc line in bench/matmul-tune.ts, with --strict)"
echo "=== matmul ($(el) s)"
( on_gpu 0
  timeout "${TEST_S:-150}" node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts > "$R/matmul-test.log" 2>&1
  echo "matmul tests rc=$? at $(el) s" >> "$R/matmul-test.log"
  timeout "${TUNE_CAP_S:-260}" node results/tmp/bench-build/bench/matmul-tune.js --out "$R/tune" --ablate --budget "${TUNE_S:-170}" \
    2>&1 | grep -a -v deprecated > "$R/tune.console"
  echo "tune rc=${PIPESTATUS[0]} at $(el) s" >> "$R/tune.console" ) &
( on_gpu 1
  ATTN_TUNE_BUDGET_S=${ATT_S:-200} timeout 260 node results/tmp/bench-build/bench/attention-tune.js --out "$R/attention-tune" \
    2>&1 | grep -a -v deprecated > "$R/attention.console"
  echo "attention tune rc=${PIPESTATUS[0]} at $(el) s" >> "$R/attention.console" ) &
wait
echo "=== status A/B ($(el) s)"
OUT=$R/status bash scripts/gpu-call-status-ab.sh > "$R/status.console" 2>&1
echo "=== done ($(el) s)"
tail -n 4 "$R/matmul-test.log"; tail -n 3 "$R/attention.console"; grep -a -E "ablate|rc=" "$R/tune.console" | head -20
grep -a -E "status ms|exit" -A1 "$R/status.console" | head -20
tar -czf "$OUT/results.tgz" -C "$R" .
ls -la "$OUT"
