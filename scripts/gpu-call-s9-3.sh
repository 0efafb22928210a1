#!/usr/bin/env bash
# Ninth session (2026-12-01), third nvidia-h200 call, ~1 minute: bench/mma-peak.js again with fragment loads that cannot
# be hoisted out of the loop (call 2's 'smem' rows walked 4 K offsets: the driver hoisted them, 168 registers), plus a
# barrier per K step, plus the single-stage staging stores and barriers; registers from the driver.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
bash native/vk-pipeline-stats/build.sh > "$R/layer-build.log" 2>&1; echo "layer build rc=$?" >> "$R/layer-build.log"
VK_LAYER_PATH=$PWD/native/vk-pipeline-stats/build VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats TETRISERVE_PIPELINE_STATS="$R/stats.jsonl" \
  timeout 200 node .bench-build/bench/mma-peak.js --out "$R/mma-peak" > "$R/mma-peak.console" 2>&1
echo "mma-peak rc=$? at $(el) s" >> "$R/mma-peak.console"
echo "=== done ($(el) s)"
tail -1 "$R/layer-build.log"; grep -a -E 'FAILED|rc=' "$R/mma-peak.console"; sed -n '/^| variant/,$p' "$R/mma-peak/mma-peak.md"
tar -czf "$OUT/results.tgz" -C "$R" .
