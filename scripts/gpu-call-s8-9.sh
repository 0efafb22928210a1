#!/usr/bin/env bash
# Eighth session (2026-12-01), ninth and tenth nvidia-h200 calls, ~1 minute: the driver's statistics for our attention and GEMM
# pipelines (registers, shared memory, ...) through the diagnostics layer native/vk-pipeline-stats
# (VK_KHR_pipeline_executable_properties), by bench/pipeline-stats.js.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
bash native/vk-pipeline-stats/build.sh > "$R/layer-build.log" 2>&1; echo "layer build rc=$?" >> "$R/layer-build.log"
VK_LAYER_PATH=$PWD/native/vk-pipeline-stats/build VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats TETRISERVE_PIPELINE_STATS="$R/stats.jsonl" \
  timeout 120 node .bench-build/bench/pipeline-stats.js --out "$R/pipeline-stats" > "$R/pipeline-stats.console" 2>&1
echo "rc=$? at $(el) s" >> "$R/pipeline-stats.console"
echo "=== done ($(el) s)"
cat "$R/layer-build.log"; grep -a -v 'maxDyn' "$R/pipeline-stats.console" | head -40
head -c 3000 "$R/stats.jsonl"
tar -czf "$OUT/results.tgz" -C "$R" .
