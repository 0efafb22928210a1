#!/usr/bin/env bash
# Eighth session (2026-12-01), third nvidia-h200 call, ~3 minutes: 16-byte attention output stores (vecOut).
#   (1) tests on the H200: attention vecOut cases (sweep tiles, masks, split-KV), the executor and residual tests.
#   (2) bench/attention-waves.js: one wave (Sq 1536, 11 heads) against the key length, table tiles with and without
#       vecOut; then the FLUX lengths (1536, 4608, 16896; 24 heads) and SD3's (4429, D = 64) with and without.
#   (3) `dit bench model --flux 512,1024 --int8 --reps 7` with the committed table + vecOut (attn-vecout.json).
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ and attn-vecout.json in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
timeout 90 node node_modules/vitest/vitest.mjs run test/kernels/attention.test.ts test/graph/executor.test.ts test/graph/linear-residual.test.ts -t "vecOut|executor|residual|interleave" > "$R/tests.log" 2>&1
echo "tests rc=$? at $(el) s" >> "$R/tests.log"
B128='"NSG":8,"BKV":32,"kvLoad":"staged","reduce":"shuffle","splits":1,"vecKv":true,"vecScratch":true,"prefetch":true,"interleave":true'
B64='"NSG":8,"BKV":32,"kvLoad":"staged","reduce":"shuffle","splits":1,"vecKv":true,"prefetch":true'
W=.bench-build/bench/attention-waves.js
timeout 60 node $W --S 1536 --heads 11 --kv 32,512,1536,4608 --variants "[{$B128},{$B128,\"vecOut\":true}]" --out "$R/waves-kv" > "$R/waves.console" 2>&1
timeout 60 node $W --S 1536,4608,16896 --heads 24 --variants "[{$B128},{$B128,\"vecOut\":true}]" --out "$R/waves-flux" >> "$R/waves.console" 2>&1
timeout 40 node $W --D 64 --S 4429 --heads 24 --variants "[{$B64},{$B64,\"vecOut\":true}]" --out "$R/waves-sd3" >> "$R/waves.console" 2>&1
echo "waves rc=$? at $(el) s" >> "$R/waves.console"
export DIT_ATTENTION_TABLE=$PWD/attn-vecout.json
MODEL_S=80 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 7" bench_model model-vecout
echo "=== done ($(el) s)"
grep -a -E 'Tests |FAIL|rc=|×' "$R/tests.log" | head
grep -a -E 'TFLOP|rc=' "$R/waves.console" | sed -E 's/\{"NSG":8,"BKV":32,"kvLoad":"staged","reduce":"shuffle","splits":1,"vecKv":true,("vecScratch":true,)?"prefetch":true(,"interleave":true)?/{base/'
grep -a -E "ms/step|rc=" "$R/model-vecout.console"
tar -czf "$OUT/results.tgz" -C "$R" .
