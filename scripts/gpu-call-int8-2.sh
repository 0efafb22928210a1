#!/usr/bin/env bash
# Second nvidia-h200-x2 call for issue 13's int8 path (fifth session, 2026-11-30), ~6 minutes:
#   GPU 0: the int8 tests (split-K and the shape-chosen tilings are new), then `dit bench model --flux 512,1024
#          --int8 --reps 7` while GPU 1 is idle ("quiet"), then bench/int8-gemm.ts (split-K and chosen tilings), then
#          the model benchmark once more while GPU 1 runs diffusers eager (how much a busy host costs).
#   GPU 1: once GPU 0's quiet benchmark is done: diffusers' FluxTransformer2DModel eager and torch.compile at
#          1024² and 512², then bench/reference/int8_gemm_ref.py.
# Carry: .gpu (GPU_PACK_PROFILE=tests-run), dist, native/nccl-bridge/build, results/tmp/bench-build,
# .diffusers-src.tar.xz. Everything lands in $OUT/results.tgz.
rm -rf /tmp/results  # a machine may keep /tmp from an earlier call
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 0
  timeout "${TEST_S:-120}" node node_modules/vitest/vitest.mjs run test/kernels/linear-i8.test.ts test/models/flux-int8.test.ts > "$R/int8-tests.log" 2>&1
  echo "int8 tests rc=$? at $(el) s" >> "$R/int8-tests.log"
  MODEL_S=150 MODEL_ARGS="--int8 --reps 7" bench_model model-int8-quiet
  touch "$R/quiet.done"
  timeout "${GEMM_S:-150}" node results/tmp/bench-build/bench/int8-gemm.js --out "$R/int8-gemm" > "$R/int8-gemm.console" 2>&1
  echo "int8-gemm rc=$? at $(el) s" >> "$R/int8-gemm.console"
  MODEL_S=150 MODEL_ARGS="--int8 --reps 7" bench_model model-int8-busy ) &
( on_gpu 1
  while [ ! -f "$R/quiet.done" ] && [ "$(el)" -lt 300 ]; do sleep 2; done
  echo "diffusers starts at $(el) s" > "$R/diffusers.start"
  diffusers_step "${DIFF_END_S:-480}" 100
  while [ ! -f "$R/int8-gemm/torch-int8-spec.json" ] && [ "$(el)" -lt 500 ]; do sleep 2; done
  timeout 90 python3 bench/reference/int8_gemm_ref.py "$R/int8-gemm/torch-int8-spec.json" "$R/torch-int8.json" > "$R/torch-int8.console" 2>&1
  echo "torch int8 rc=$? at $(el) s" >> "$R/torch-int8.console" ) &
wait
echo "=== done ($(el) s)"
tail -n 5 "$R/int8-tests.log"; grep -a -E "chosen|split|rc=" "$R/int8-gemm.console" | head -24
grep -a -E "ms/step|rc=" "$R/model-int8-quiet.console" "$R/model-int8-busy.console"
grep -a -E "rc=" "$R/torch-int8.console"; cat "$R/diffusers.start"
tail -n 3 "$R/diffusers.console" | cut -c1-300
tar -czf "$OUT/results.tgz" -C "$R" .
ls -la "$OUT"
