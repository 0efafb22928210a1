#!/usr/bin/env bash
# Ninth session (2026-12-01), fifteenth nvidia-h200 call, ~1 minute: the attention loop part by part
# (bench/attention-peak.js: MMAs with K/V fragments from workgroup memory, + softmax round trip, + barriers, + K/V
# staging stores, + global loads; registers from the diagnostics layer), beside the real kernel's table row at FLUX
# 1024² (bench/attention-waves.js, 4608 tokens, 24 heads, float64-checked).
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
bash native/vk-pipeline-stats/build.sh > "$R/layer-build.log" 2>&1; echo "layer build rc=$?" >> "$R/layer-build.log"
VK_LAYER_PATH=$PWD/native/vk-pipeline-stats/build VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats TETRISERVE_PIPELINE_STATS="$R/stats.jsonl" \
  timeout 100 node .bench-build/bench/attention-peak.js --out "$R/attention-peak" > "$R/attention-peak.console" 2>&1
echo "attention-peak rc=$? at $(el) s" >> "$R/attention-peak.console"
timeout 60 node .bench-build/bench/attention-waves.js --S 4608 --heads 24 --out "$R/table-row" > "$R/table-row.console" 2>&1
echo "waves rc=$? at $(el) s" >> "$R/table-row.console"
echo "=== done ($(el) s)"
tail -1 "$R/layer-build.log"; grep -a -E 'FAILED|rc=' "$R/attention-peak.console"; sed -n '/^| stage/,$p' "$R/attention-peak/attention-peak.md"
grep -a -E 'TFLOP|rc=' "$R/table-row.console" | cut -c1-200
tar -czf "$OUT/results.tgz" -C "$R" .
