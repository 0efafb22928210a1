#!/usr/bin/env bash
# Seventh session (2026-11-30), fifth nvidia-h200-x2 call, ~7 minutes: residual read-ahead in the tensor-core GEMM
# epilogue (per 16x16 fragment, only in the pipelines of GEMMs with a residual), then the FLUX.1-dev step beside diffusers.
#   GPU 1: (1) tensor-core tests of the GEMM paths (every epilogue incl. both residual modes, the tilings, split-K; the
#          int8 kernel; gemv), fresh seeds; (2) once GPU 0 is done: diffusers eager and torch.compile.
#   GPU 0: once GPU 1's tests are done: `dit bench model --flux 512,1024 --int8 --idle-wait 0.85 --reps 9`, regression
#          guard against call 4 (compare-s7-4.json), GPU 1 idle meanwhile.
# Carry: .gpu, dist, native/nccl-bridge/build, .diffusers-src.tar.xz.
rm -rf /tmp/results
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 1
  timeout 100 node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts test/kernels/linear-i8.test.ts \
    -t "subgroup-matrix path|gemv|int8 tensor-core kernel on this GPU" > "$R/tests.log" 2>&1
  echo "tests rc=$? at $(el) s" >> "$R/tests.log"
  touch "$R/tests.done"
  while [ ! -f "$R/quiet.done" ] && [ "$(el)" -lt 230 ]; do sleep 2; done
  echo "diffusers starts at $(el) s" > "$R/diffusers.start"
  diffusers_step 440 90 ) &
( on_gpu 0
  while [ ! -f "$R/tests.done" ] && [ "$(el)" -lt 110 ]; do sleep 2; done
  MODEL_S=120 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 9 --compare compare-s7-4.json --compare-warn" bench_model model-readahead
  touch "$R/quiet.done" ) &
wait
echo "=== done ($(el) s)"
grep -a -E 'Test Files|Tests |FAIL|rc=|×' "$R/tests.log" | head
grep -a -E "ms/step|rc=|slower|regress" "$R/model-readahead.console"
cat "$R/diffusers.start"; grep -a -E "ms median|rc=" "$R/diffusers.console"
tar -czf "$OUT/results.tgz" -C "$R" .
