#!/usr/bin/env bash
# One device call for issue 11's last measurement (nvidia-h200-x2): status latency while both H200s are busy, with
# the engines on the engine thread (the default) and on the HTTP thread (ENGINE_THREAD=0), same trace, same server
# path (scripts/gpu-serve-experiment.sh with TetriServe+ on the uniform mix, 25 s of arrivals each). Each half
# writes $OUT/<mode>/serve-experiment.{json,md}; compare "status ms p50 / p99 / max" and the event-loop section.
# ~2 x 85 s (start-up ~25 s, warm-up, one replay and its tail). Carry .gpu (run profile), dist and
# native/nccl-bridge/build, as for gpu-serve-experiment.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-dit-out/gpu-status-ab}"
for mode in thread http; do
  et=1; [ "$mode" = http ] && et=0
  OUT="$OUT/$mode" ENGINE_THREAD=$et POLICIES="${POLICIES:-tetriserve+}" MIXES="${MIXES:-uniform}" SECONDS_PER_RUN="${SECONDS_PER_RUN:-25}" \
    BUDGET_SECONDS="${BUDGET_SECONDS:-120}" bash scripts/gpu-serve-experiment.sh 2>&1 | tail -25
done
