#!/usr/bin/env bash
# Eighth session (2026-12-01), fourth nvidia-h200 call, ~1.5 minutes: bench/matmul-fixed.js, the f16 and W8A8 linears at
# M = 4608 against K (256 .. 6144), N = 12288 and 3072, with and without the bias + GELU epilogue: what a tile costs
# besides its K loop.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
for n in 12288 3072; do
  timeout 100 node .bench-build/bench/matmul-fixed.js --N $n --K 256,512,1024,2048,3072,6144,12288 --out "$R/fixed-N$n" > "$R/fixed-N$n.console" 2>&1
  echo "N=$n rc=$? at $(el) s" >> "$R/fixed-N$n.console"
done
echo "=== done ($(el) s)"
grep -a -E 'TFLOP|rc=|rror' "$R"/fixed-N*.console
tar -czf "$OUT/results.tgz" -C "$R" .
