#!/usr/bin/env bash
# Eighth session (2026-12-01), fifth nvidia-h200 call, ~3 minutes: 16-byte output stores in the GEMM epilogue
# (store_out8, N % 8 == 0) and in attention (vecOut, committed table).
#   (1) tests on the H200: matmul (every tensor-core case incl. the new vecOut ones), int8 kernel, attention vecOut,
#       linear residual forms, the W8A8 FLUX graph.
#   (2) bench/matmul-fixed.js at N = 12288 and 3072 (compare call 4: what a tile costs besides its K loop).
#   (3) `dit bench model --flux 512,1024 --int8 --reps 7`.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
timeout 150 node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts test/kernels/linear-i8.test.ts test/kernels/attention.test.ts \
  test/graph/linear-residual.test.ts test/models/flux-int8.test.ts -t "subgroup-matrix|tensor-core|16-byte|vecOut|residual|W8A8|gemv" > "$R/tests.log" 2>&1
echo "tests rc=$? at $(el) s" >> "$R/tests.log"
for n in 12288 3072; do
  timeout 100 node .bench-build/bench/matmul-fixed.js --N $n --K 256,512,1024,2048,3072,6144,12288 --out "$R/fixed-N$n" > "$R/fixed-N$n.console" 2>&1
  echo "N=$n rc=$? at $(el) s" >> "$R/fixed-N$n.console"
done
MODEL_S=80 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 7" bench_model model-vec8
echo "=== done ($(el) s)"
grep -a -E 'Tests |FAIL|rc=|×' "$R/tests.log" | head -20
grep -a -E 'TFLOP|rc=|rror' "$R"/fixed-N*.console | grep -E 'K= (3072|6144|12288)|rc=|rror'
grep -a -E "ms/step|rc=" "$R/model-vec8.console"
tar -czf "$OUT/results.tgz" -C "$R" .
