#!/usr/bin/env bash
# Ninth session (2026-12-01), fourth nvidia-h200 call, ~1 minute: 4-subgroup GEMM workgroups (two or three per SM, each
# with its own barriers) against the table's 8-subgroup tiling, f16 and int8, at four FLUX block shapes
# (bench/matmul-occupancy.js, float64-checked), registers from the driver.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
bash native/vk-pipeline-stats/build.sh > "$R/layer-build.log" 2>&1; echo "layer build rc=$?" >> "$R/layer-build.log"
F='"staging":"staged","groupM":8,"vecSmem":true'
V="[[\"f16 128x128 8sg 4x2 bk64 (table)\",\"f16\",{\"sgM\":2,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":64,\"stages\":1,$F}],
[\"f16 128x64 4sg 4x2 bk64\",\"f16\",{\"sgM\":2,\"sgN\":2,\"fragM\":4,\"fragN\":2,\"bk\":64,\"stages\":1,$F}],
[\"f16 64x128 4sg 4x2 bk64\",\"f16\",{\"sgM\":1,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":64,\"stages\":1,$F}],
[\"f16 128x64 4sg 4x2 bk96\",\"f16\",{\"sgM\":2,\"sgN\":2,\"fragM\":4,\"fragN\":2,\"bk\":96,\"stages\":1,$F}],
[\"f16 128x64 4sg 4x2 bk32 2 stages\",\"f16\",{\"sgM\":2,\"sgN\":2,\"fragM\":4,\"fragN\":2,\"bk\":32,\"stages\":2,$F}],
[\"f16 128x64 4sg 4x2 bk64 no-prefetch\",\"f16\",{\"sgM\":2,\"sgN\":2,\"fragM\":4,\"fragN\":2,\"bk\":64,\"stages\":1,\"prefetch\":false,$F}],
[\"f16 128x128 4sg 4x4 bk64\",\"f16\",{\"sgM\":2,\"sgN\":2,\"fragM\":4,\"fragN\":4,\"bk\":64,\"stages\":1,$F}],
[\"f16 64x64 2sg 4x2 bk64\",\"f16\",{\"sgM\":1,\"sgN\":2,\"fragM\":4,\"fragN\":2,\"bk\":64,\"stages\":1,$F}],
[\"f16 128x64 4sg 4x2 bk64 groupM16\",\"f16\",{\"sgM\":2,\"sgN\":2,\"fragM\":4,\"fragN\":2,\"bk\":64,\"stages\":1,$F,\"groupM\":16}],
[\"int8 128x128 8sg 4x2 bk128 (table)\",\"int8\",{\"sgM\":2,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":128,\"stages\":1,\"pad\":16,$F}],
[\"int8 128x64 4sg 4x2 bk128\",\"int8\",{\"sgM\":2,\"sgN\":2,\"fragM\":4,\"fragN\":2,\"bk\":128,\"stages\":1,\"pad\":16,$F}],
[\"int8 64x128 4sg 4x2 bk128\",\"int8\",{\"sgM\":1,\"sgN\":4,\"fragM\":4,\"fragN\":2,\"bk\":128,\"stages\":1,\"pad\":16,$F}],
[\"int8 128x64 4sg 4x2 bk192\",\"int8\",{\"sgM\":2,\"sgN\":2,\"fragM\":4,\"fragN\":2,\"bk\":192,\"stages\":1,\"pad\":16,$F}]]"
VK_LAYER_PATH=$PWD/native/vk-pipeline-stats/build VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats TETRISERVE_PIPELINE_STATS="$R/stats.jsonl" \
  timeout 300 node .bench-build/bench/matmul-occupancy.js --variants "$V" --out "$R/occupancy" > "$R/occupancy.console" 2>&1
echo "occupancy rc=$? at $(el) s" >> "$R/occupancy.console"
echo "=== done ($(el) s)"
tail -1 "$R/layer-build.log"; grep -a -E 'FAILED|rc=|Error' "$R/occupancy.console" | head; sed -n '/^| variant/,$p' "$R/occupancy/matmul-occupancy.md"
tar -czf "$OUT/results.tgz" -C "$R" .
