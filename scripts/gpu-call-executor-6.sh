#!/usr/bin/env bash
# Sixth session (2026-11-30), seventh call, one nvidia-h200, ~4 minutes: the denoising step as `dit generate` runs it
# (TransformerExecutor.velocity on full-size FLUX.1-dev, random weights, 28 steps after 3 warm-up calls) in four
# modes: plain, idle wait, encode ahead (Plan.prepareRun), both (the new default), two rounds each
# (bench/executor-steps.ts).
# Carry: .gpu, native/nccl-bridge/build, results/tmp/bench-build (with bench/executor-steps.js built).
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
timeout 400 node results/tmp/bench-build/bench/executor-steps.js --res 512,1024 --steps 28 --out "$R/executor-steps" > "$R/executor-steps.console" 2>&1
echo "executor steps rc=$? at $(el) s" >> "$R/executor-steps.console"
grep -a -v Warning "$R/executor-steps.console"
tar -czf "$OUT/results.tgz" -C "$R" .
