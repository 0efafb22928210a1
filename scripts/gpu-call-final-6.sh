#!/usr/bin/env bash
# Sixth session (2026-11-30), third call, one nvidia-h200, ~5 minutes: the session's new code on the tensor cores,
# then every kernel case with the adopted attention table beside PyTorch.
#   (1) vitest on the GPU: attention (every tensor-core case, the prefetch tiles), the attention table, the
#       tensor-core shader compiles, the abs-diff reduction, the FLUX first-block cache, the model-bench harness;
#   (2) `dit bench kernels --suite full --reps 5` beside bench/reference/kernels_ref.py (same shapes, same GPU).
# Carry: .gpu, dist, native/nccl-bridge/build.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
timeout 150 node node_modules/vitest/vitest.mjs run test/kernels/attention.test.ts test/kernels/attention-table.test.ts \
  test/gpu/tensor-core-shaders.test.ts test/kernels/abs-diff-sums.test.ts test/models/flux-first-block-cache.test.ts \
  test/bench/model-bench.test.ts > "$R/gpu-tests.log" 2>&1
echo "tests rc=$? at $(el) s" >> "$R/gpu-tests.log"
mkdir -p "$R/kernels"
node bin/dit.js bench kernels --suite full --emit-spec "$R/kernels/spec.json" > "$R/spec.console" 2>&1
timeout 100 python3 bench/reference/kernels_ref.py "$R/kernels/spec.json" "$R/kernels/torch-kernels.json" > "$R/torch.console" 2>&1
echo "torch rc=$?" >> "$R/torch.console"
REF=(); [ -f "$R/kernels/torch-kernels.json" ] && REF=(--reference "$R/kernels/torch-kernels.json")
timeout 170 node bin/dit.js bench kernels --suite full --reps 5 "${REF[@]}" --out "$R/kernels" 2>&1 | grep -a -v -E 'deprecated|^Warning: maxDyn' > "$R/kernels.console"
echo "kernels rc=${PIPESTATUS[0]} at $(el) s" >> "$R/kernels.console"
grep -a -E "Test Files|Tests |FAIL|rc=" "$R/gpu-tests.log"
grep -a -E "attention" "$R/kernels/RESULTS.md" | head -20
tail -n 3 "$R/torch.console" "$R/kernels.console"
tar -czf "$OUT/results.tgz" -C "$R" .
