#!/usr/bin/env bash
# Seventh session (2026-11-30), fourth nvidia-h200-x2 call, ~7 minutes: the committed state (call 2's code; call 3's
# epilogue experiment reverted) measured with the other GPU idle, beside diffusers in the same command.
#   GPU 1: (1) tensor-core tests of this session's kernels with fresh seeds (interleaved attention, gemv, int8 kernel
#          and tile table, quantizer column parts, linearOfColumns, the W8A8 FLUX graph); (2) once GPU 0 is done:
#          diffusers' FluxTransformer2DModel eager and torch.compile at 1024² and 512².
#   GPU 0: once GPU 1's tests are done: `dit bench model --flux 512,1024 --int8 --idle-wait 0.85 --reps 9`, regression
#          guard against call 2 (compare-s7-2.json), GPU 1 idle meanwhile.
# Carry: .gpu, dist, native/nccl-bridge/build, .diffusers-src.tar.xz.
rm -rf /tmp/results
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 1
  timeout 120 node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts test/kernels/linear-i8.test.ts test/kernels/attention.test.ts \
    test/kernels/matmul-i8-tile-table.test.ts test/graph/linear-of-columns.test.ts test/models/flux-int8.test.ts \
    -t "gemv|int8 tensor-core kernel on this GPU|interleave|quantizeRowsI8|linearOfColumns|W8A8|tile table" > "$R/tests.log" 2>&1
  echo "tests rc=$? at $(el) s" >> "$R/tests.log"
  touch "$R/tests.done"
  while [ ! -f "$R/quiet.done" ] && [ "$(el)" -lt 320 ]; do sleep 2; done
  echo "diffusers starts at $(el) s" > "$R/diffusers.start"
  diffusers_step 570 100 ) &
( on_gpu 0
  while [ ! -f "$R/tests.done" ] && [ "$(el)" -lt 130 ]; do sleep 2; done
  MODEL_S=190 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 9 --compare compare-s7-2.json --compare-warn" bench_model model-final
  touch "$R/quiet.done" ) &
wait
echo "=== done ($(el) s)"
grep -a -E 'Test Files|Tests |FAIL|rc=|×' "$R/tests.log" | head
grep -a -E "ms/step|rc=|slower|regress" "$R/model-final.console"
cat "$R/diffusers.start"; grep -a -E "ms median|rc=" "$R/diffusers.console"
tar -czf "$OUT/results.tgz" -C "$R" .
