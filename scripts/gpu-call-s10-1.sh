#!/usr/bin/env bash
# Prepared in the tenth session (2026-12-01) and NOT run: the session had 165 s of device time left, too little to
# start a machine. ~1 minute of GPU time: paired subgroups in the fused attention kernel (SubgroupMatrixTiles.pairRows).
# Before the call: build .bench-build (docs/attention.md's bench tsc line, for bench/attention-peak.ts and
# bench/attention-waves.ts) and `bash scripts/gpu-tree.sh slim` (`restore` after the call).
#   1. bench/attention-peak.js, the three layouts (single / pairV / pairKV) stage by stage, registers from the
#      diagnostics layer: what fragment reuse gives the synthetic loop;
#   2. bench/attention-waves.js: the table rows at FLUX 1024² (D = 128, 4608 tokens) and SD3 1024² (D = 64, 4429
#      tokens), 24 heads, against the same tiles with pairRows 'v' and 'kv' (D = 128 also 'kv' on 4 subgroups;
#      float64-checked row, registers);
#   3. the GPU test cases of the paired kernel (test/kernels/attention.test.ts -t paired).
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
bash native/vk-pipeline-stats/build.sh > "$R/layer-build.log" 2>&1; echo "layer build rc=$? at $(el) s" >> "$R/layer-build.log"
export VK_LAYER_PATH=$PWD/native/vk-pipeline-stats/build VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats
TETRISERVE_PIPELINE_STATS="$R/peak-stats.jsonl" timeout 30 node .bench-build/bench/attention-peak.js --out "$R/attention-peak" > "$R/attention-peak.console" 2>&1
echo "attention-peak rc=$? at $(el) s" >> "$R/attention-peak.console"
T128='{"NSG":8,"BKV":32,"kvLoad":"staged","reduce":"shuffle","vecKv":true,"prefetch":true,"interleave":true,"vecOut":true'
T64='{"NSG":4,"BKV":32,"kvLoad":"staged","reduce":"shuffle","splits":2,"vecKv":true,"prefetch":true,"vecOut":true'
TETRISERVE_PIPELINE_STATS="$R/d128-stats.jsonl" timeout 25 node .bench-build/bench/attention-waves.js --S 4608 --heads 24 --out "$R/d128" \
  --variants "[$T128}, $T128,\"pairRows\":\"v\"}, $T128,\"pairRows\":\"kv\"}, ${T128/\"NSG\":8/\"NSG\":4},\"pairRows\":\"kv\"}]" > "$R/d128.console" 2>&1
echo "waves D128 rc=$? at $(el) s" >> "$R/d128.console"
TETRISERVE_PIPELINE_STATS="$R/d64-stats.jsonl" timeout 20 node .bench-build/bench/attention-waves.js --D 64 --S 4429 --heads 24 --out "$R/d64" \
  --variants "[$T64}, $T64,\"pairRows\":\"v\"}, $T64,\"pairRows\":\"kv\"}]" > "$R/d64.console" 2>&1
echo "waves D64 rc=$? at $(el) s" >> "$R/d64.console"
unset VK_INSTANCE_LAYERS
timeout 25 node node_modules/vitest/vitest.mjs run test/kernels/attention.test.ts -t paired > "$R/tests.log" 2>&1
echo "tests rc=$? at $(el) s" >> "$R/tests.log"
echo "=== done ($(el) s)"
grep -a -E 'FAILED|rc=' "$R/attention-peak.console"; sed -n '/^| layout/,$p' "$R/attention-peak/attention-peak.md"
grep -a -E 'TFLOP|rc=|Error' "$R/d128.console" "$R/d64.console" | cut -c1-260
grep -a -E 'Tests |FAIL|rc=|✓|×' "$R/tests.log" | head -20
tar -czf "$OUT/results.tgz" -C "$R" .
