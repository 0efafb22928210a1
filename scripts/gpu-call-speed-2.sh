#!/usr/bin/env bash
# One nvidia-h200-x2 call for issue 13 (fourth session, 2026-11-30), ~8 minutes, two GPUs side by side:
#   GPU 0: bench/matmul-tune.ts (vec4<u32>-staged tilings first; busy period before each timing), then
#          `dit bench model --flux 512,1024` with the sweep's new matmul table (and the committed attention table),
#          then the ablations of the default tiling, one process per part (a crash loses one part only).
#   GPU 1: the matmul tests on the real tensor cores, then diffusers' FluxTransformer2DModel eager and
#          torch.compile at 1024² and 512² (bench/reference/flux_transformer_step.py), in the same command as ours.
# Carry: .gpu (GPU_PACK_PROFILE=tests-run), dist, native/nccl-bridge/build, results/tmp/bench-build,
# .diffusers-src.tar.xz. Everything lands in $OUT/results.tgz.
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 0
  timeout "${TUNE_CAP_S:-250}" node results/tmp/bench-build/bench/matmul-tune.js --out "$R/tune" --budget "${TUNE_S:-190}" \
    2>&1 | grep -a -v -E 'deprecated|^Warning: maxDyn' > "$R/tune.console"
  echo "tune rc=${PIPESTATUS[0]} at $(el) s" >> "$R/tune.console"
  MODEL_S=150 bench_model model
  unset DIT_MATMUL_TILE_TABLE DIT_ATTENTION_TABLE
  for p in none k4x no-barrier no-stage mma-only no-global; do
    [ "$(el)" -gt "${ABLATE_END_S:-520}" ] && break
    timeout 45 node results/tmp/bench-build/bench/matmul-tune.js --out "$R/ablate/$p" --ablate "$p" --ablate-only \
      2>&1 | grep -a -E '\] ablate|Error|error' >> "$R/ablate.console"
    echo "ablate $p rc=${PIPESTATUS[0]} at $(el) s" >> "$R/ablate.console"
  done ) &
( on_gpu 1
  timeout "${TEST_S:-100}" node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts > "$R/matmul-test.log" 2>&1
  echo "matmul tests rc=$? at $(el) s" >> "$R/matmul-test.log"
  diffusers_step "${DIFF_END_S:-540}" 120 ) &
wait
echo "=== done ($(el) s)"
tail -n 3 "$R/matmul-test.log"; grep -a -E "rc=|finalists" "$R/tune.console"; tail -n 2 "$R/model.console"; cat "$R/ablate.console" | cut -c1-160
tail -n 4 "$R/diffusers.console" | cut -c1-300
tar -czf "$OUT/results.tgz" -C "$R" .
ls -la "$OUT"
