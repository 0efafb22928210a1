#!/usr/bin/env bash
# Sixth session (2026-11-30), second nvidia-h200-x2 call, ~7 minutes: attention prefetch with the K and V tiles reused
# (no second K buffer, so the 8-subgroup BKV 32 tiles fit), and the FLUX.1-dev / SD3 steps with the resulting table.
#   GPU 0: (0) the prefetch attention tests on the tensor cores (test/kernels/attention.test.ts -t prefetch);
#          (1) the attention sweep (bench/attention-tune.ts, 150 s budget; prefetch variants of the table's tiles first);
#          (2) once GPU 1 is done: `dit bench model --flux 512,1024 --sd3 1024 --int8 --reps 9` with this call's
#              attention table, the regression guard against the first call's model.json (--compare-warn).
#   GPU 1: diffusers' FluxTransformer2DModel eager and torch.compile at 1024² and 512², at once.
# Carry: .gpu, dist, native/nccl-bridge/build, .diffusers-src.tar.xz (.bench-build travels as an untracked folder).
rm -rf /tmp/results  # a machine may keep /tmp from an earlier call
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 1
  diffusers_step 300 100 ) &
( on_gpu 0
  timeout 100 node node_modules/vitest/vitest.mjs run test/kernels/attention.test.ts -t prefetch > "$R/attn-prefetch-tests.log" 2>&1
  echo "prefetch tests rc=$? at $(el) s" >> "$R/attn-prefetch-tests.log"
  ATTN_TUNE_BUDGET_S=150 timeout 175 node .bench-build/bench/attention-tune.js --out "$R/attention-tune" > "$R/attn-tune.log" 2>&1
  echo "attention tune rc=$? at $(el) s" >> "$R/attn-tune.log"
  while [ ! -f "$R/diffusers.done" ] && [ "$(el)" -lt 320 ]; do sleep 2; done
  echo "model bench starts at $(el) s" > "$R/model.start"
  export DIT_ATTENTION_TABLE="$R/attention-tune/attention-table.json"
  timeout 230 node bin/dit.js bench model --flux 512,1024 --sd3 1024 --int8 --reps 9 \
    --compare compare-call1.json --compare-warn --out "$R/model" > "$R/model.console" 2>&1
  echo "model rc=$? at $(el) s" >> "$R/model.console" ) &
wait
echo "=== done ($(el) s)"
grep -a -E 'Tests |FAIL|rc=|✓|×' "$R/attn-prefetch-tests.log" | head -20
grep -a -E '^D=|REJECTED|wrote|rc=' "$R/attn-tune.log" | head -20
grep -a -E "ms/step|rc=|slower|regress" "$R/model.console"
cat "$R/model.start"; grep -a -E "ms median|rc=" "$R/diffusers.console"
tar -czf "$OUT/results.tgz" -C "$R" .
