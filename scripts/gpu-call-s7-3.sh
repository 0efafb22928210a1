#!/usr/bin/env bash
# Seventh session (2026-11-30), third nvidia-h200-x2 call, ~6 minutes: the GEMM epilogue reading a pass's residuals
# before writing any (epi_res / store_out_r), on the tensor cores, then the FLUX.1-dev step beside diffusers.
#   GPU 1: (1) tensor-core tests of the GEMM paths (every epilogue, tilings, split-K; int8 kernel; gemv; the
#          interleaved attention), fresh seeds; (2) once GPU 0 is done: diffusers eager and torch.compile.
#   GPU 0: once GPU 1's tests are done: `dit bench model --flux 512,1024 --int8 --idle-wait 0.85 --reps 9`, regression
#          guard against call 2 (compare-s7-2.json), GPU 1 idle meanwhile.
# Carry: .gpu, dist, native/nccl-bridge/build, .diffusers-src.tar.xz.
rm -rf /tmp/results
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 1
  timeout 150 node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts test/kernels/linear-i8.test.ts test/kernels/attention.test.ts \
    -t "subgroup-matrix path|gemv|int8 tensor-core kernel on this GPU|interleave" > "$R/tests.log" 2>&1
  echo "tests rc=$? at $(el) s" >> "$R/tests.log"
  touch "$R/tests.done"
  while [ ! -f "$R/quiet.done" ] && [ "$(el)" -lt 330 ]; do sleep 2; done
  echo "diffusers starts at $(el) s" > "$R/diffusers.start"
  diffusers_step 570 100 ) &
( on_gpu 0
  while [ ! -f "$R/tests.done" ] && [ "$(el)" -lt 160 ]; do sleep 2; done
  MODEL_S=200 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 9 --compare compare-s7-2.json --compare-warn" bench_model model-final
  touch "$R/quiet.done" ) &
wait
echo "=== done ($(el) s)"
grep -a -E 'Test Files|Tests |FAIL|rc=|×' "$R/tests.log" | head
grep -a -E "ms/step|rc=|slower|regress" "$R/model-final.console"
cat "$R/diffusers.start"; grep -a -E "ms median|rc=" "$R/diffusers.console"
tar -czf "$OUT/results.tgz" -C "$R" .
