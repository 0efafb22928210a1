#!/usr/bin/env bash
# Eighth session (2026-12-01), sixth nvidia-h200 call, ~8 minutes: the three per-device tables re-tuned now that the
# GEMM epilogue and attention write 16 bytes per store (their fixed per-tile costs changed the balance between tilings).
#   (1) bench/matmul-tune.js (f16 tile table; 4x4-fragment tilings with 16-byte stores forced on, a 4x2 one off), 120 s.
#   (2) bench/int8-gemm.js --sweep (int8 tile table; same extra variants), 120 s.
#   (3) bench/attention-tune.js (vecOut rows, 4-subgroup and split-KV variants), 120 s.
#   (4) `dit bench model --flux 512,1024 --int8 --reps 7` with the three new tables.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
timeout 170 node .bench-build/bench/matmul-tune.js --budget 120 --out "$R/tune" > "$R/matmul-tune.log" 2>&1
echo "matmul tune rc=$? at $(el) s" >> "$R/matmul-tune.log"
timeout 170 node .bench-build/bench/int8-gemm.js --sweep --budget 120 --out "$R/int8-sweep" > "$R/int8-sweep.log" 2>&1
echo "int8 sweep rc=$? at $(el) s" >> "$R/int8-sweep.log"
ATTN_TUNE_BUDGET_S=120 timeout 160 node .bench-build/bench/attention-tune.js --out "$R/attention-tune" > "$R/attn-tune.log" 2>&1
echo "attention tune rc=$? at $(el) s" >> "$R/attn-tune.log"
[ -f "$R/int8-sweep/int8-tile-table.json" ] && export DIT_MATMUL_I8_TILE_TABLE="$R/int8-sweep/int8-tile-table.json"
MODEL_S=70 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 7" bench_model model-tuned
echo "=== done ($(el) s)"
tail -n 4 "$R/matmul-tune.log"; tail -n 4 "$R/int8-sweep.log"
grep -a -E '^D=|REJECTED|wrote|rc=' "$R/attn-tune.log" | head -12
grep -a -E "ms/step|rc=" "$R/model-tuned.console"
tar -czf "$OUT/results.tgz" -C "$R" .
