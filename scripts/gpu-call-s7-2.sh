#!/usr/bin/env bash
# Seventh session (2026-11-30), second nvidia-h200-x2 call, ~8 minutes: the FLUX.1-dev step with this session's
# changes (skinny-linear kernel for the M <= 8 modulation/embedding linears, attention with interleaved score chains,
# the int8 tile table, linear2's int8 input quantized from its parts), beside diffusers, and the kernel suite beside
# PyTorch.
#   GPU 0: `dit bench model --flux 512,1024 --int8 --idle-wait 0.85 --reps 9` with the committed tables, regression
#          guard against call 1's run with the previous tables (compare-s7-1.json).
#   GPU 1: the gemv tests on this GPU; `dit bench kernels --suite full` beside bench/reference/kernels_ref.py; then,
#          once GPU 0 is done, diffusers' FluxTransformer2DModel eager and torch.compile at 1024² and 512².
# Carry: .gpu, dist, native/nccl-bridge/build, .diffusers-src.tar.xz.
rm -rf /tmp/results
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 0
  MODEL_S=200 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 9 --compare compare-s7-1.json --compare-warn" bench_model model-new
  touch "$R/quiet.done" ) &
( on_gpu 1
  timeout 60 node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts -t gemv > "$R/gemv-tests.log" 2>&1
  echo "gemv tests rc=$? at $(el) s" >> "$R/gemv-tests.log"
  mkdir -p "$R/kernels"
  node bin/dit.js bench kernels --suite full --emit-spec "$R/kernels/spec.json" > "$R/spec.console" 2>&1
  timeout 90 python3 bench/reference/kernels_ref.py "$R/kernels/spec.json" "$R/kernels/torch-kernels.json" > "$R/torch.console" 2>&1
  echo "torch rc=$? at $(el) s" >> "$R/torch.console"
  REF=(); [ -f "$R/kernels/torch-kernels.json" ] && REF=(--reference "$R/kernels/torch-kernels.json")
  timeout 140 node bin/dit.js bench kernels --suite full --reps 5 "${REF[@]}" --out "$R/kernels" 2>&1 | grep -a -v -E 'deprecated|^Warning: maxDyn' > "$R/kernels.console"
  echo "kernels rc=${PIPESTATUS[0]} at $(el) s" >> "$R/kernels.console"
  while [ ! -f "$R/quiet.done" ] && [ "$(el)" -lt 300 ]; do sleep 2; done
  echo "diffusers starts at $(el) s" > "$R/diffusers.start"
  diffusers_step 565 100 ) &
wait
echo "=== done ($(el) s)"
grep -a -E 'Tests |FAIL|rc=' "$R/gemv-tests.log"
grep -a -E "ms/step|rc=|slower|regress" "$R/model-new.console"
tail -n 2 "$R/torch.console" "$R/kernels.console"
cat "$R/diffusers.start"; grep -a -E "ms median|rc=" "$R/diffusers.console"
tar -czf "$OUT/results.tgz" -C "$R" .
