#!/usr/bin/env bash
# One nvidia-h200-x2 call for issue 13 (fourth session, 2026-11-30), ~6 minutes, two GPUs side by side:
#   GPU 0: bench/attention-tune.ts (vec4 score/probability scratch first), then `dit bench model --flux 512,1024`
#          with its table and the committed matmul table (while GPU 1 runs diffusers eager), and again at the end
#          when GPU 1 is idle ("quiet").
#   GPU 1: the attention tests on the real tensor cores, then diffusers' FluxTransformer2DModel eager and
#          torch.compile at 1024² and 512².
# Carry: .gpu (GPU_PACK_PROFILE=tests-run), dist, native/nccl-bridge/build, results/tmp/bench-build,
# .diffusers-src.tar.xz. Everything lands in $OUT/results.tgz.
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 0
  ATTN_TUNE_BUDGET_S=${ATT_S:-130} timeout 180 node results/tmp/bench-build/bench/attention-tune.js --out "$R/attention-tune" \
    2>&1 | grep -a -v -E 'deprecated|^Warning: maxDyn' > "$R/attention.console"
  echo "attention tune rc=${PIPESTATUS[0]} at $(el) s" >> "$R/attention.console"
  bench_model model
  while [ ! -f "$R/diffusers.done" ] && [ "$(el)" -lt "${QUIET_AT_S:-380}" ]; do sleep 2; done
  bench_model model-quiet ) &
( on_gpu 1
  timeout "${TEST_S:-80}" node node_modules/vitest/vitest.mjs run test/kernels/attention.test.ts > "$R/kernel-tests.log" 2>&1
  echo "kernel tests rc=$? at $(el) s" >> "$R/kernel-tests.log"
  diffusers_step "${DIFF_END_S:-370}" 100 ) &
wait
echo "=== done ($(el) s)"
tail -n 5 "$R/kernel-tests.log"; grep -a -E "best|rc=" "$R/attention.console" | head -8
grep -a -E "ms/step|rc=" "$R/model.console" "$R/model-quiet.console"
tail -n 3 "$R/diffusers.console" | cut -c1-300
tar -czf "$OUT/results.tgz" -C "$R" .
ls -la "$OUT"
