#!/usr/bin/env bash
# Seventh session (2026-11-30), first nvidia-h200-x2 call, ~7 minutes:
#   GPU 0: (1) the attention sweep (bench/attention-tune.ts, 170 s budget; interleaved score chains on the prefetch
#              tiles first); (2) the int8 GEMM tile sweep (bench/int8-gemm.ts --sweep, 200 s budget).
#   GPU 1: (1) tensor-core tests of this session's changes (interleaved attention, int8 kernels incl. the quantizer's
#              column parts, linearOfColumns, the W8A8 FLUX graph); (2) `dit bench model --flux 512,1024 --int8
#              --idle-wait 0.85` with the committed tables (linear2's input quantized from its parts; per-role profile).
# Carry: .gpu, dist, native/nccl-bridge/build (.bench-build travels as an untracked folder).
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
( on_gpu 0
  ATTN_TUNE_BUDGET_S=170 timeout 195 node .bench-build/bench/attention-tune.js --out "$R/attn-sweep" > "$R/attn-tune.log" 2>&1
  echo "attention tune rc=$? at $(el) s" >> "$R/attn-tune.log"
  timeout 230 node .bench-build/bench/int8-gemm.js --sweep --budget 200 --out "$R/int8-sweep" > "$R/int8-sweep.log" 2>&1
  echo "int8 sweep rc=$? at $(el) s" >> "$R/int8-sweep.log" ) &
( on_gpu 1
  timeout 200 node node_modules/vitest/vitest.mjs run test/kernels/attention.test.ts test/kernels/linear-i8.test.ts \
    test/kernels/matmul-i8-tile-table.test.ts test/graph/linear-of-columns.test.ts test/models/flux-int8.test.ts \
    -t "interleave|prefetch|int8|quantize|linearOfColumns|W8A8|tile table" > "$R/tests.log" 2>&1
  echo "tests rc=$? at $(el) s" >> "$R/tests.log"
  MODEL_S=200 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 7" bench_model model-committed ) &
wait
echo "=== done ($(el) s)"
grep -a -E 'Test Files|Tests |FAIL|rc=|×' "$R/tests.log" | head -20
grep -a -E '^D=|REJECTED|wrote|rc=' "$R/attn-tune.log" | head -20
tail -5 "$R/int8-sweep.log"
grep -a -E "ms/step|rc=" "$R/model-committed.console"
tar -czf "$OUT/results.tgz" -C "$R" .
