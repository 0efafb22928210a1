#!/usr/bin/env bash
# Sixth session (2026-11-30), one nvidia-h200-x2 call, ~8 minutes: the first-block cache and the attention prefetch
# variants.
#   GPU 1: diffusers' FluxTransformer2DModel at 1024² and 512²: eager, with diffusers' own first-block cache forced
#          down each path (fbc-compute, fbc-reuse), and torch.compile; starts at once.
#   GPU 0: (0) the prefetch attention tests on the tensor cores (test/kernels/attention.test.ts -t prefetch);
#          (1) the attention sweep with the prefetch variants (bench/attention-tune.ts, 200 s budget);
#          (2) once GPU 1 is done: `dit bench model --flux 512,1024 --first-block-cache --reps 9` (plain step, then the
#              cached step down each path), with this call's attention table.
# Carry: .gpu, dist, native/nccl-bridge/build, .bench-build, .diffusers-src.tar.xz (the small model's quality run is on
# lavapipe: weights/small-flux does not fit the 64 MiB that travel with the pack).
rm -rf /tmp/results  # a machine may keep /tmp from an earlier call
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 1
  DIFF_MODES=eager,fbc-compute,fbc-reuse,compile diffusers_step 330 100 ) &
( on_gpu 0
  timeout 100 node node_modules/vitest/vitest.mjs run test/kernels/attention.test.ts -t prefetch > "$R/attn-prefetch-tests.log" 2>&1
  echo "prefetch tests rc=$? at $(el) s" >> "$R/attn-prefetch-tests.log"
  ATTN_TUNE_BUDGET_S=200 timeout 225 node .bench-build/bench/attention-tune.js --out "$R/attention-tune" > "$R/attn-tune.log" 2>&1
  echo "attention tune rc=$? at $(el) s" >> "$R/attn-tune.log"
  while [ ! -f "$R/diffusers.done" ] && [ "$(el)" -lt 360 ]; do sleep 2; done
  echo "model bench starts at $(el) s" > "$R/model.start"
  MODEL_S=200 MODEL_ARGS="--first-block-cache --reps 9" bench_model model-fbc ) &
wait
echo "=== done ($(el) s)"
grep -a -E 'Tests |FAIL|rc=|✓|×' "$R/attn-prefetch-tests.log" | head -20
grep -a -E '^D=|REJECTED|wrote|rc=' "$R/attn-tune.log" | head -40
grep -a -E "ms/step|rc=|FBCache" "$R/model-fbc.console"
cat "$R/model.start"; tail -n 12 "$R/diffusers.console" | cut -c1-300
tar -czf "$OUT/results.tgz" -C "$R" .
