#!/usr/bin/env bash
# Ninth session (2026-12-01), second nvidia-h200 call, ~2 minutes: what the tensor cores give through Dawn's subgroup
# matrices without memory traffic (bench/mma-peak.js: fragment configs 16x16x16 / 16x8x16 f16, 16x16x32 / 16x8x32
# int8, accumulators per subgroup, subgroups per workgroup; and the GEMM's inner loop with its fragments loaded from
# workgroup memory), registers from the driver (diagnostics layer); then SD3's D = 64 attention with 1-3 KV splits
# again (bench/attention-waves.js, float64-checked), for the +3% of the eighth session's call 11.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
bash native/vk-pipeline-stats/build.sh > "$R/layer-build.log" 2>&1; echo "layer build rc=$?" >> "$R/layer-build.log"
VK_LAYER_PATH=$PWD/native/vk-pipeline-stats/build VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats TETRISERVE_PIPELINE_STATS="$R/stats.jsonl" \
  timeout 200 node .bench-build/bench/mma-peak.js --out "$R/mma-peak" > "$R/mma-peak.console" 2>&1
echo "mma-peak rc=$? at $(el) s" >> "$R/mma-peak.console"
B64='"NSG":4,"BKV":32,"kvLoad":"staged","reduce":"shuffle","vecKv":true,"prefetch":true,"vecOut":true'
timeout 60 node .bench-build/bench/attention-waves.js --D 64 --S 4429 --heads 24 --variants "[{$B64,\"splits\":1},{$B64,\"splits\":2},{$B64,\"splits\":1},{$B64,\"splits\":2},{$B64,\"splits\":3}]" --out "$R/split-d64" > "$R/split.console" 2>&1
echo "split rc=$? at $(el) s" >> "$R/split.console"
echo "=== done ($(el) s)"
tail -1 "$R/layer-build.log"; grep -a -E 'FAILED|rc=' "$R/mma-peak.console"; sed -n '/^| variant/,$p' "$R/mma-peak/mma-peak.md"
grep -a -E 'TFLOP|rc=' "$R/split.console" | sed -E 's/"BKV":32,"kvLoad":"staged","reduce":"shuffle","vecKv":true,"prefetch":true,"vecOut":true,//'
tar -czf "$OUT/results.tgz" -C "$R" .
