#!/usr/bin/env bash
# Ninth session (2026-12-01), sixteenth nvidia-h200 call, ~2.5 minutes: the tensor-core test phase at the session's final
# code with fresh seeds (the exact-timestamp check, attention incl. the D = 64 table rows and split-KV, the committed
# tables, the GEMM and int8 kernels incl. this session's main-loop options, residual forms, the W8A8 FLUX graph).
# Carry: .gpu, dist, native/nccl-bridge/build.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
timeout 200 node node_modules/vitest/vitest.mjs run test/gpu/context.test.ts test/kernels/attention.test.ts test/kernels/linear-i8.test.ts test/kernels/matmul.test.ts \
  test/kernels/matmul-table.test.ts test/kernels/attention-table.test.ts test/kernels/matmul-i8-tile-table.test.ts test/graph/linear-residual.test.ts test/models/flux-int8.test.ts \
  -t "vecOut|interleave|prefetch|tensor-core kernel on this GPU|16-byte|split-K|table|residual|W8A8|register-lean|two K steps|straight-line|timestamp resolution" > "$R/tests.log" 2>&1
echo "tests rc=$? at $(el) s" >> "$R/tests.log"
echo "=== done ($(el) s)"
grep -a -E 'Tests |Test Files|FAIL|×|rc=|seed' "$R/tests.log" | head -20
tar -czf "$OUT/results.tgz" -C "$R" .
