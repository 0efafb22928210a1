#!/usr/bin/env bash
# One nvidia-h200-x2 call for issue 13's optional int8 path (fifth session, 2026-11-30), ~8 minutes, two GPUs:
#   GPU 0: the int8 tests on the real tensor cores (test/kernels/linear-i8.test.ts, test/models/flux-int8.test.ts),
#          bench/int8-gemm.ts (W8A8 vs f16 linear at the ten FLUX shapes, tilings, quantizer, 'mma-only' ceiling), then
#          `dit bench model --flux 512,1024 --int8` (f16 and W8A8 steps, velocity distance) once GPU 1's diffusers
#          eager run is over.
#   GPU 1: bench/reference/int8_gemm_ref.py (torch._int_mm, F.linear f16/bf16, a W8A8 linear in PyTorch eager) on
#          the same shapes, then diffusers' FluxTransformer2DModel eager and torch.compile at 1024² and 512².
# Carry: .gpu (GPU_PACK_PROFILE=tests-run), dist, native/nccl-bridge/build, results/tmp/bench-build,
# .diffusers-src.tar.xz. Everything lands in $OUT/results.tgz.
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 0
  timeout "${TEST_S:-100}" node node_modules/vitest/vitest.mjs run test/kernels/linear-i8.test.ts test/models/flux-int8.test.ts \
    test/gpu/tensor-core-shaders.test.ts > "$R/int8-tests.log" 2>&1
  echo "int8 tests rc=$? at $(el) s" >> "$R/int8-tests.log"
  timeout "${GEMM_S:-150}" node results/tmp/bench-build/bench/int8-gemm.js --out "$R/int8-gemm" > "$R/int8-gemm.console" 2>&1
  echo "int8-gemm rc=$? at $(el) s" >> "$R/int8-gemm.console"
  MODEL_S=${MODEL_S:-240} MODEL_ARGS=--int8 bench_model model-int8 ) &
( on_gpu 1
  while [ ! -f "$R/int8-gemm/torch-int8-spec.json" ] && [ "$(el)" -lt 150 ]; do sleep 2; done
  timeout 120 python3 bench/reference/int8_gemm_ref.py "$R/int8-gemm/torch-int8-spec.json" "$R/torch-int8.json" > "$R/torch-int8.console" 2>&1
  echo "torch int8 rc=$? at $(el) s" >> "$R/torch-int8.console"
  diffusers_step "${DIFF_END_S:-520}" 100 ) &
wait
echo "=== done ($(el) s)"
tail -n 5 "$R/int8-tests.log"; grep -a -E "mlp_up_1024|rc=" "$R/int8-gemm.console" | head -14
grep -a -E "ms/step|rc=" "$R/model-int8.console"
grep -a -E "mlp_up_1024|rc=" "$R/torch-int8.console" | head -6
tail -n 3 "$R/diffusers.console" | cut -c1-300
tar -czf "$OUT/results.tgz" -C "$R" .
ls -la "$OUT"
