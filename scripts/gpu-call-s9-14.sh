#!/usr/bin/env bash
# Ninth session (2026-12-01), fourteenth nvidia-h200 call, ~1.5 minutes: the straight-line K loop (loads kept early) with
# two K sub-steps per rolled iteration (SgTiling.rollKStep 2: half the fragment registers of the unrolled loop, some
# overlap left), f16 and int8, at four FLUX block shapes (bench/matmul-occupancy.js, float64-checked; registers from the
# driver), then the GPU test cases of the register-lean loops and branchFree.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
bash native/vk-pipeline-stats/build.sh > "$R/layer-build.log" 2>&1; echo "layer build rc=$?" >> "$R/layer-build.log"
F='"staging":"staged","groupM":8,"vecSmem":true,"stages":1'
V="[[\"f16 128x128 8sg 4x2 bk64 (table)\",\"f16\",{\"sgM\":2,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":64,$F}],
[\"f16 128x128 8sg 4x2 bk64 rollK2 branchFree\",\"f16\",{\"sgM\":2,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":64,\"rollK\":true,\"rollKStep\":2,\"branchFree\":true,$F}],
[\"f16 128x128 8sg 4x2 bk64 rollK2\",\"f16\",{\"sgM\":2,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":64,\"rollK\":true,\"rollKStep\":2,$F}],
[\"f16 256x128 16sg 4x2 bk32 rollK2 branchFree\",\"f16\",{\"sgM\":4,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":32,\"rollK\":true,\"rollKStep\":2,\"branchFree\":true,$F}],
[\"int8 128x128 8sg 4x2 bk128 (table)\",\"int8\",{\"sgM\":2,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":128,\"pad\":16,$F}],
[\"int8 128x128 8sg 4x2 bk128 rollK2 branchFree\",\"int8\",{\"sgM\":2,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":128,\"pad\":16,\"rollK\":true,\"rollKStep\":2,\"branchFree\":true,$F}],
[\"int8 128x128 8sg 4x2 bk128 rollK2\",\"int8\",{\"sgM\":2,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":128,\"pad\":16,\"rollK\":true,\"rollKStep\":2,$F}]]"
VK_LAYER_PATH=$PWD/native/vk-pipeline-stats/build VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats TETRISERVE_PIPELINE_STATS="$R/stats.jsonl" \
  timeout 300 node .bench-build/bench/matmul-occupancy.js --variants "$V" --out "$R/occupancy" > "$R/occupancy.console" 2>&1
echo "occupancy rc=$? at $(el) s" >> "$R/occupancy.console"
timeout 200 node node_modules/vitest/vitest.mjs run test/kernels/matmul.test.ts test/kernels/linear-i8.test.ts -t "register-lean|straight-line" > "$R/tests.log" 2>&1
echo "tests rc=$? at $(el) s" >> "$R/tests.log"
echo "=== done ($(el) s)"
tail -1 "$R/layer-build.log"; grep -a -E 'FAILED|rc=|Error' "$R/occupancy.console" | head; sed -n '/^| variant/,$p' "$R/occupancy/matmul-occupancy.md"
grep -a -E 'Tests |FAIL|×|rc=' "$R/tests.log" | head -20
tar -czf "$OUT/results.tgz" -C "$R" .
