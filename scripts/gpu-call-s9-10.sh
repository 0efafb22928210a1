#!/usr/bin/env bash
# Ninth session (2026-12-01), tenth nvidia-h200 call, ~1 minute: SD3's D = 64 attention (24 heads) with 1-3 KV splits at
# its three lengths (512²: 1357 tokens, 1024²: 4429, 2048²: 16717), the table's tiles otherwise
# (bench/attention-waves.js, every point float64-checked), to choose the D = 64 table rows per length class.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
W=.bench-build/bench/attention-waves.js
B64='"NSG":4,"BKV":32,"kvLoad":"staged","reduce":"shuffle","vecKv":true,"prefetch":true,"vecOut":true'
for S in 1357 4429 16717; do
  timeout 80 node $W --D 64 --S $S --heads 24 --variants "[{$B64,\"splits\":1},{$B64,\"splits\":2},{$B64,\"splits\":3},{$B64,\"splits\":1},{$B64,\"splits\":2},{$B64,\"splits\":3}]" --out "$R/split-d64-$S" >> "$R/split.console" 2>&1
  echo "S=$S rc=$? at $(el) s" >> "$R/split.console"
done
echo "=== done ($(el) s)"
grep -a -E 'TFLOP|rc=' "$R/split.console" | sed -E 's/"BKV":32,"kvLoad":"staged","reduce":"shuffle","vecKv":true,"prefetch":true,"vecOut":true,//'
tar -czf "$OUT/results.tgz" -C "$R" .
