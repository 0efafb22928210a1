#!/usr/bin/env bash
# Ninth session (2026-12-01), first nvidia-h200 call, ~3 minutes: registers against speed for the tensor-core GEMM.
#   (1) bench/matmul-occupancy.js under the diagnostics layer (native/vk-pipeline-stats): the table's f16 and int8
#       tilings beside register-lean main loops (rolled K sub-steps, no register prefetch), at four FLUX block shapes,
#       every point float64-checked; registers, spills and workgroup memory from the driver.
#   (2) the new GPU test cases of those loops (test/kernels/matmul.test.ts, linear-i8.test.ts "register-lean").
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
bash native/vk-pipeline-stats/build.sh > "$R/layer-build.log" 2>&1; echo "layer build rc=$?" >> "$R/layer-build.log"
VK_LAYER_PATH=$PWD/native/vk-pipeline-stats/build VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats TETRISERVE_PIPELINE_STATS="$R/stats.jsonl" \
  timeout 300 node .bench-build/bench/matmul-occupancy.js --out "$R/occupancy" > "$R/occupancy.console" 2>&1
echo "occupancy rc=$? at $(el) s" >> "$R/occupancy.console"
timeout 150 node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts test/kernels/linear-i8.test.ts -t "register-lean" > "$R/tests.log" 2>&1
echo "tests rc=$? at $(el) s" >> "$R/tests.log"
echo "=== done ($(el) s)"
cat "$R/layer-build.log" | tail -2; grep -a -E 'FAILED|rc=' "$R/occupancy.console"; sed -n '/^| variant/,$p' "$R/occupancy/matmul-occupancy.md"
grep -a -E 'Tests |FAIL|✓|×|rc=' "$R/tests.log" | head -20
tar -czf "$OUT/results.tgz" -C "$R" .
