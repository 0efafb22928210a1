#!/usr/bin/env bash
# Ninth session (2026-12-01), eleventh nvidia-h200 call, ~1 minute: attention key blocks of 48 (D = 128, 4 subgroups:
# the largest block that fits 48 KiB with the score scratch) and of 64 (D = 64, 4 subgroups) beside the table's tiles,
# 24 heads at FLUX 1024² (4608 tokens) and SD3 1024² (4429), bench/attention-waves.js (every point float64-checked).
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
W=.bench-build/bench/attention-waves.js
C='"kvLoad":"staged","reduce":"shuffle","vecKv":true,"prefetch":true,"vecOut":true'
timeout 90 node $W --D 128 --S 4608 --heads 24 --variants "[{\"NSG\":8,\"BKV\":32,$C,\"interleave\":true},{\"NSG\":4,\"BKV\":48,$C,\"interleave\":true},{\"NSG\":4,\"BKV\":48,$C},{\"NSG\":4,\"BKV\":32,$C,\"interleave\":true},{\"NSG\":4,\"BKV\":48,$C,\"interleave\":true,\"vecScratch\":true},{\"NSG\":8,\"BKV\":32,$C,\"interleave\":true}]" --out "$R/bkv-d128" > "$R/bkv.console" 2>&1
echo "D128 rc=$? at $(el) s" >> "$R/bkv.console"
timeout 60 node $W --D 64 --S 4429 --heads 24 --variants "[{\"NSG\":4,\"BKV\":32,$C,\"splits\":2},{\"NSG\":4,\"BKV\":64,$C},{\"NSG\":4,\"BKV\":64,$C,\"interleave\":true},{\"NSG\":4,\"BKV\":48,$C},{\"NSG\":4,\"BKV\":64,$C,\"splits\":2},{\"NSG\":4,\"BKV\":32,$C,\"splits\":2}]" --out "$R/bkv-d64" >> "$R/bkv.console" 2>&1
echo "D64 rc=$? at $(el) s" >> "$R/bkv.console"
echo "=== done ($(el) s)"
grep -a -E 'TFLOP|rc=|rror' "$R/bkv.console" | sed -E 's/"kvLoad":"staged","reduce":"shuffle","vecKv":true,"prefetch":true,"vecOut":true,//' | cut -c1-200
tar -czf "$OUT/results.tgz" -C "$R" .
