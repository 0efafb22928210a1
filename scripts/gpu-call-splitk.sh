#!/usr/bin/env bash
# One nvidia-h200 call (fourth session, ~2 minutes): the FLUX.1-dev 512² step with the graph's linears through
# linearCalls (the committed tile table's split-K winners used) against the same table without its split entries
# (results/tmp/nosplit-table.json, carried), alternating, 2 runs each. Carry: .gpu, dist, results/tmp/nosplit-table.json.
source scripts/lib/gpu-call-prelude.sh
for i in 1 2; do
  for mode in split nosplit; do
    if [ "$mode" = nosplit ]; then export DIT_MATMUL_TILE_TABLE=$PWD/results/tmp/nosplit-table.json; else unset DIT_MATMUL_TILE_TABLE; fi
    timeout 80 node bin/dit.js bench model --flux 512 --sd3 '' --reps 7 --out "$R/$mode-$i" > "$R/$mode-$i.console" 2>&1
    echo "$mode-$i rc=$?" >> "$R/$mode-$i.console"
  done
done
grep -h -E "ms/step|rc=" "$R"/*.console
tar -czf "$OUT/results.tgz" -C "$R" .
