#!/usr/bin/env bash
# Ninth session (2026-12-01), twelfth (final) nvidia-h200 call, ~9 minutes: the committed state measured beside PyTorch
# and diffusers in the same command, one GPU, now with exact timestamps (Dawn's 65.536 µs timestamp quantization off),
# SD3's D = 64 attention rows per length class, and the new GEMM main-loop options (off by default).
#   (1) tensor-core tests with fresh seeds (attention, the committed tables, GEMM and int8 kernels incl. this session's
#       main-loop options, residual forms, the W8A8 FLUX graph).
#   (2) `dit bench model --flux 512,1024 --int8 --idle-wait 0.85 --reps 9`, regression guard against the eighth
#       session's final call (compare-s8-7.json; its GPU times were quantized).
#   (3) diffusers' FluxTransformer2DModel eager and torch.compile at 1024² and 512².
#   (4) `dit bench kernels --suite flux` and `--suite sd3` beside bench/reference/kernels_ref.py (VAE not re-measured).
# Carry: .gpu, dist, native/nccl-bridge/build, .diffusers-src.tar.xz. Needs compare-s8-7.json in the tree.
rm -rf /tmp/results
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
timeout 150 node node_modules/vitest/vitest.mjs run test/gpu/context.test.ts test/kernels/attention.test.ts test/kernels/linear-i8.test.ts test/kernels/matmul.test.ts \
  test/kernels/matmul-table.test.ts test/kernels/attention-table.test.ts test/kernels/matmul-i8-tile-table.test.ts test/graph/linear-residual.test.ts test/models/flux-int8.test.ts \
  -t "vecOut|interleave|prefetch|tensor-core kernel on this GPU|16-byte|split-K|table|residual|W8A8|register-lean|two K steps|straight-line|timestamp resolution" > "$R/tests.log" 2>&1
echo "tests rc=$? at $(el) s" >> "$R/tests.log"
MODEL_S=75 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 9 --compare compare-s8-7.json --compare-warn" bench_model model-final
diffusers_step 400 100
for suite in flux sd3; do
  mkdir -p "$R/kernels-$suite"
  node bin/dit.js bench kernels --suite $suite --emit-spec "$R/kernels-$suite/spec.json" > /dev/null 2>&1
  timeout 60 python3 bench/reference/kernels_ref.py "$R/kernels-$suite/spec.json" "$R/kernels-$suite/torch-kernels.json" > "$R/torch-$suite.console" 2>&1
  echo "torch rc=$? at $(el) s" >> "$R/torch-$suite.console"
  REF=(); [ -f "$R/kernels-$suite/torch-kernels.json" ] && REF=(--reference "$R/kernels-$suite/torch-kernels.json")
  timeout $(( 580 - $(el) )) node bin/dit.js bench kernels --suite $suite --reps 5 "${REF[@]}" --out "$R/kernels-$suite" 2>&1 | grep -a -v -E 'deprecated|^Warning: maxDyn' > "$R/kernels-$suite.console"
  echo "kernels rc=${PIPESTATUS[0]} at $(el) s" >> "$R/kernels-$suite.console"
done
echo "=== done ($(el) s)"
grep -a -E 'Tests |FAIL|rc=|×' "$R/tests.log" | head
grep -a -E "ms/step|rc=|slower|regress" "$R/model-final.console"
grep -a -E "ms median|rc=" "$R/diffusers.console"
tail -n 2 "$R"/torch-*.console "$R"/kernels-*.console
tar -czf "$OUT/results.tgz" -C "$R" .
