#!/usr/bin/env bash
# Eighth session (2026-12-01), eighth nvidia-h200 call, ~1.5 minutes: resident attention workgroups per SM by variant
# (bench/attention-waves.js at 1536 tokens against the number of heads): the D = 128 table row (8 subgroups, 46 KB of
# workgroup memory), the same with 4 subgroups (~32 KB), and D = 64 with 4 and 8 subgroups (~24 / ~40 KB). A step
# every 132 workgroups = one per SM; every 264 = two.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
W=.bench-build/bench/attention-waves.js
H=2,4,5,6,8,10,11,12,16,20,22,23,24,28,33,34,44,45
B128='"BKV":32,"kvLoad":"staged","reduce":"shuffle","splits":1,"vecKv":true,"prefetch":true,"interleave":true,"vecOut":true'
B64='"BKV":32,"kvLoad":"staged","reduce":"shuffle","splits":1,"vecKv":true,"prefetch":true,"vecOut":true'
timeout 80 node $W --S 1536 --heads $H --variants "[{\"NSG\":8,$B128},{\"NSG\":4,$B128}]" --out "$R/res-d128" > "$R/res.console" 2>&1
timeout 60 node $W --D 64 --S 1536 --heads $H --variants "[{\"NSG\":8,$B64},{\"NSG\":4,$B64}]" --out "$R/res-d64" >> "$R/res.console" 2>&1
echo "rc=$? at $(el) s" >> "$R/res.console"
echo "=== done ($(el) s)"
grep -a -E 'TFLOP|rc=' "$R/res.console" | sed -E 's/"BKV":32,"kvLoad":"staged","reduce":"shuffle","splits":1,"vecKv":true,"prefetch":true,("interleave":true,)?"vecOut":true//' | awk '{print $1, $3, $4, $5, $6, $7}'
tar -czf "$OUT/results.tgz" -C "$R" .
