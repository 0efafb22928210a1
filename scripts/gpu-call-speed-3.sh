#!/usr/bin/env bash
# One nvidia-h200-x2 call for issue 13 (fourth session, 2026-11-30), ~8 minutes, two GPUs side by side:
#   GPU 0: bench/matmul-tune.ts (vec4 staging with the scratch-free epilogue, K step 80 / 48 tilings first), then,
#          once GPU 1's attention sweep has written its table, `dit bench model --flux 512,1024` with both new
#          tables (while GPU 1 runs diffusers eager), and again at the end when GPU 1 is idle ("quiet").
#   GPU 1: the matmul and attention tests on the real tensor cores, bench/attention-tune.ts (vec4 K/V staging
#          first), then diffusers' FluxTransformer2DModel eager and torch.compile at 1024² and 512².
# Carry: .gpu (GPU_PACK_PROFILE=tests-run), dist, native/nccl-bridge/build, results/tmp/bench-build,
# .diffusers-src.tar.xz. Everything lands in $OUT/results.tgz.
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 0
  timeout "${TUNE_CAP_S:-250}" node results/tmp/bench-build/bench/matmul-tune.js --out "$R/tune" --budget "${TUNE_S:-200}" \
    2>&1 | grep -a -v -E 'deprecated|^Warning: maxDyn' > "$R/tune.console"
  echo "tune rc=${PIPESTATUS[0]} at $(el) s" >> "$R/tune.console"
  while [ ! -f "$R/attention.done" ] && [ "$(el)" -lt 330 ]; do sleep 2; done
  bench_model model
  while [ ! -f "$R/diffusers.done" ] && [ "$(el)" -lt "${QUIET_AT_S:-520}" ]; do sleep 2; done
  bench_model model-quiet ) &
( on_gpu 1
  timeout "${TEST_S:-110}" node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts test/kernels/attention.test.ts > "$R/kernel-tests.log" 2>&1
  echo "kernel tests rc=$? at $(el) s" >> "$R/kernel-tests.log"
  ATTN_TUNE_BUDGET_S=${ATT_S:-150} timeout 200 node results/tmp/bench-build/bench/attention-tune.js --out "$R/attention-tune" \
    2>&1 | grep -a -v -E 'deprecated|^Warning: maxDyn' > "$R/attention.console"
  echo "attention tune rc=${PIPESTATUS[0]} at $(el) s" >> "$R/attention.console"; touch "$R/attention.done"
  diffusers_step "${DIFF_END_S:-510}" 100 ) &
wait
echo "=== done ($(el) s)"
tail -n 5 "$R/kernel-tests.log"; grep -a -E "rc=|finalists" "$R/tune.console"; grep -a -E "best|rc=" "$R/attention.console" | head -8
grep -a -E "ms/step|rc=" "$R/model.console" "$R/model-quiet.console"
tail -n 3 "$R/diffusers.console" | cut -c1-300
tar -czf "$OUT/results.tgz" -C "$R" .
ls -la "$OUT"
