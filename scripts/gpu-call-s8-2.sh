#!/usr/bin/env bash
# Eighth session (2026-12-01), second nvidia-h200 call, ~3 minutes.
#   (1) bench/attention-waves.js: one wave of attention workgroups (Sq = 1536, 11 heads = 132 workgroups of 128 rows)
#       against the key length (32 .. 9216), and two waves (22 heads): a workgroup's fixed cost against its cost per
#       key block; the committed table's tiles and the same tiles without prefetch/interleave.
#   (2) `dit bench model --flux 512,1024 --int8 --reps 7` with the f32 residuals applied by a separate add and the
#       step submitted in pieces as it is encoded.
#   (3) this session's graph tests on the H200 (linear residual forms, submission in pieces).
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ (bench tsc line) in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
timeout 60 node node_modules/vitest/vitest.mjs run test/graph/linear-residual.test.ts test/graph/executor.test.ts > "$R/tests.log" 2>&1
echo "tests rc=$? at $(el) s" >> "$R/tests.log"
BASE='"NSG":8,"BKV":32,"kvLoad":"staged","reduce":"shuffle","splits":1,"vecKv":true,"vecScratch":true'
timeout 120 node .bench-build/bench/attention-waves.js --S 1536 --heads 11,22 --kv 32,64,128,256,512,1024,1536,2304,3072,4608,6144,9216 \
  --variants "[{$BASE,\"prefetch\":true,\"interleave\":true},{$BASE}]" --out "$R/waves-kv" > "$R/waves-kv.console" 2>&1
echo "waves rc=$? at $(el) s" >> "$R/waves-kv.console"
MODEL_S=80 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 7" bench_model model-s8
echo "=== done ($(el) s)"
grep -a -E 'Tests |FAIL|rc=' "$R/tests.log"
grep -a -E 'TFLOP|rc=' "$R/waves-kv.console" | sed -E 's/\{"NSG":8,"BKV":32,"kvLoad":"staged","reduce":"shuffle","splits":1,"vecKv":true,"vecScratch":true/{base/' | head -60
grep -a -E "ms/step|rc=" "$R/model-s8.console"
tar -czf "$OUT/results.tgz" -C "$R" .
