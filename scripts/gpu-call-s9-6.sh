#!/usr/bin/env bash
# Ninth session (2026-12-01), sixth nvidia-h200 call, ~1.5 minutes: where the GEMM loses against the tensor-core rate.
#   (1) bench/mma-peak.js with the 'global' modes (the staging stores fed by global loads issued one K step ahead, or
#       right before the stores), registers from the driver;
#   (2) the real kernel's ablations (bench/matmul-tune.js --ablate PART --ablate-only, one process per part; the
#       default tiling at the MLP-up shape of 1024², f16 and vec4 staging arrays; outputs wrong by design).
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
bash native/vk-pipeline-stats/build.sh > "$R/layer-build.log" 2>&1; echo "layer build rc=$?" >> "$R/layer-build.log"
VK_LAYER_PATH=$PWD/native/vk-pipeline-stats/build VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats TETRISERVE_PIPELINE_STATS="$R/stats.jsonl" \
  timeout 200 node .bench-build/bench/mma-peak.js --out "$R/mma-peak" > "$R/mma-peak.console" 2>&1
echo "mma-peak rc=$? at $(el) s" >> "$R/mma-peak.console"
for p in none no-global no-stage no-barrier mma-only k4x; do
  timeout 60 node .bench-build/bench/matmul-tune.js --ablate $p --ablate-only --out "$R/ablate-$p" > "$R/ablate-$p.console" 2>&1
  echo "ablate $p rc=$? at $(el) s" >> "$R/ablate.console"
done
echo "=== done ($(el) s)"
tail -1 "$R/layer-build.log"; grep -a -E 'FAILED|rc=' "$R/mma-peak.console"; sed -n '/^| variant/,$p' "$R/mma-peak/mma-peak.md" | grep -E "variant|global|staged|memory, |4 rounds"
cat "$R/ablate.console"; grep -a -h 'ablate ' "$R"/ablate-*.console | cut -c1-170
tar -czf "$OUT/results.tgz" -C "$R" .
