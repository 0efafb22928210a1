#!/usr/bin/env bash
# Third nvidia-h200-x2 call (fifth session, 2026-11-30), ~2 minutes: the double blocks' per-stream GEMMs (512 and
# 1024 rows), f16 and int8, with split-K and 64-row tiles (bench/int8-gemm.ts --small-m), then the FLUX.1-dev step
# with the final int8 tiling (`dit bench model --flux 512,1024 --int8 --reps 7`) on GPU 0; the int8 and serve tests
# on GPU 1 meanwhile. Carry as scripts/gpu-call-int8-2.sh (no diffusers needed).
rm -rf /tmp/results  # a machine may keep /tmp from an earlier call
source scripts/lib/gpu-call-prelude.sh
( on_gpu 0
  timeout 150 node results/tmp/bench-build/bench/int8-gemm.js --small-m --out "$R/int8-gemm-small-m" > "$R/int8-gemm-small-m.console" 2>&1
  echo "int8-gemm small-m rc=$? at $(el) s" >> "$R/int8-gemm-small-m.console"
  MODEL_S=150 MODEL_ARGS="--int8 --reps 7" bench_model model-int8 ) &
( on_gpu 1
  timeout 150 node node_modules/vitest/vitest.mjs run test/kernels/linear-i8.test.ts test/models/flux-int8.test.ts test/kernels/matmul.test.ts > "$R/int8-tests.log" 2>&1
  echo "tests rc=$? at $(el) s" >> "$R/int8-tests.log" ) &
wait
echo "=== done ($(el) s)"
tail -n 5 "$R/int8-tests.log"
grep -a -E "ms|rc=" "$R/int8-gemm-small-m.console" | grep -v quantize | cut -c1-110
grep -a -E "ms/step|rc=" "$R/model-int8.console"
tar -czf "$OUT/results.tgz" -C "$R" .
