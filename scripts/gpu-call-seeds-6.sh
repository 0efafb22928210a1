#!/usr/bin/env bash
# Sixth session (2026-11-30), last call, one nvidia-h200, ~2 minutes: the kernels this session changed, on the tensor
# cores, three times with fresh seeds: attention (every tensor-core case incl. the prefetch tiles), the abs-diff
# reduction, the FLUX first-block cache and its executor rule. Logs: $OUT/results.tgz (seeds-N.log).
# Carry: .gpu, dist, native/nccl-bridge/build.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
for n in 1 2 3; do
  timeout 100 node node_modules/vitest/vitest.mjs run test/kernels/attention.test.ts test/kernels/abs-diff-sums.test.ts \
    test/models/flux-first-block-cache.test.ts test/pipeline/first-block-cache-executor.test.ts > "$R/seeds-$n.log" 2>&1
  echo "run $n rc=$? at $(el) s" >> "$R/seeds-$n.log"
  grep -a -E "seed [0-9]+\)|Tests |rc=" "$R/seeds-$n.log" | grep -a -E "Tests |rc=|describe" | head -3
done
grep -a -h -o -E "\(seed [0-9]+\)" "$R"/seeds-*.log | sort -u | head -20
tar -czf "$OUT/results.tgz" -C "$R" .
