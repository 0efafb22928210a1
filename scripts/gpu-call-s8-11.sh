#!/usr/bin/env bash
# Eighth session (2026-12-01), eleventh nvidia-h200 call, ~1 minute: split-KV against the partly idle last wave at the
# medium lengths (FLUX 1024²: 4608 tokens, 864 workgroups = 6.55 waves of 132; SD3 1024²: 4429 tokens, D = 64), 24 heads,
# the table rows with splits 1..4 (bench/attention-waves.js, every point float64-checked).
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
W=.bench-build/bench/attention-waves.js
B128='"NSG":8,"BKV":32,"kvLoad":"staged","reduce":"shuffle","vecKv":true,"prefetch":true,"interleave":true,"vecOut":true'
B64='"NSG":4,"BKV":32,"kvLoad":"staged","reduce":"shuffle","vecKv":true,"prefetch":true,"vecOut":true'
timeout 60 node $W --S 4608 --heads 24 --variants "[{$B128,\"splits\":1},{$B128,\"splits\":2},{$B128,\"splits\":3},{$B128,\"splits\":4},{$B128,\"splits\":1}]" --out "$R/split-d128" > "$R/split.console" 2>&1
timeout 50 node $W --D 64 --S 4429 --heads 24 --variants "[{$B64,\"splits\":1},{$B64,\"splits\":2},{$B64,\"splits\":3},{$B64,\"splits\":1}]" --out "$R/split-d64" >> "$R/split.console" 2>&1
echo "rc=$? at $(el) s" >> "$R/split.console"
echo "=== done ($(el) s)"
grep -a -E 'TFLOP|rc=' "$R/split.console" | sed -E 's/"BKV":32,"kvLoad":"staged","reduce":"shuffle","vecKv":true,"prefetch":true,("interleave":true,)?"vecOut":true,//'
tar -czf "$OUT/results.tgz" -C "$R" .
