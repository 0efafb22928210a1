#!/usr/bin/env bash
# The int8 kernel and model tests on the H200's tensor cores, three times with fresh seeds (flaky-bound check), and the
# f16 matmul and tensor-core shader tests once; logs in $OUT (fifth session, 2026-11-30).
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
for i in 1 2 3; do
  timeout 150 node node_modules/vitest/vitest.mjs run test/kernels/linear-i8.test.ts test/models/flux-int8.test.ts > "$R/int8-tests-$i.log" 2>&1
  echo "int8 tests run $i rc=$? at $(el) s" | tee -a "$R/summary.log"
done
timeout 150 node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts test/gpu/tensor-core-shaders.test.ts > "$R/matmul-tests.log" 2>&1
echo "matmul + shader tests rc=$? at $(el) s" | tee -a "$R/summary.log"
grep -a -h -E "Test Files|Tests  |seed" "$R"/*.log | grep -a -E "Tests|Files" | tee -a "$R/summary.log"
tar -czf "$OUT/results.tgz" -C "$R" .
