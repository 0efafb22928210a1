#!/usr/bin/env bash
# Serving experiment (issue 11) on nvidia-h200-x2: FLUX.1-dev (random weights, full size) served on both GPUs by
# the live driver; the paper's workload scaled to 2 GPUs (Poisson arrivals, Uniform and Skewed mixes,
# per-resolution SLOs) replayed with TetriServe, xDiT fixed degree and RSSP on the same arrivals; the simulator
# on the same trace with the measured profile. Results: $OUT/serve-experiment.{json,md}, log in $OUT/log.txt.
#
# Sized to finish in ~7 minutes (hard stop at 470 s; the JSON is rewritten after every run, so a cut run keeps
# what finished): start-up ~1.5-2 min (random weights, 3 resolutions compiled and timed per GPU at degree 1, and
# on both GPUs at degree 2), then 8 replays (2 mixes x TetriServe, xdit:2, RSSP, xdit:1, in that order so a cut
# loses the least important) of 25 s of arrivals (36 requests/min -> 15 requests each) plus their tails.
# Scaling from the paper (50 steps, 8 GPUs, 256-2048 px): 8 steps per request, resolutions 256/512/1024 (2048 px
# at degree 1 is ~2.9 s per step on this engine: one request would take a whole run), base SLO = 1.5 x 8 steps x
# the measured degree-1 step of the resolution (the paper's SLO / solo-latency ratio), SLO scale 1.2, degrees 1-2.
# Override any of: STEPS RESOLUTIONS SECONDS_PER_RUN RATE_PER_MIN SLO_FACTOR SLO_SCALE MIXES POLICIES SEED.
set -uo pipefail
cd "$(dirname "$0")/.."
source .gpu/env.sh
OUT="${OUT:-dit-out/gpu-serve-experiment}"
mkdir -p "$OUT"
export OUT
# dist/ is carried from the build machine (npm run build); rebuild only if it is missing and tsc is available.
if [ ! -f dist/serve/experiment.js ]; then
  node node_modules/typescript/bin/tsc -p tsconfig.json >"$OUT/tsc.txt" 2>&1 || true
fi
# One Dawn device per GPU needs the device-select Vulkan layer (native/nccl-bridge); build it if absent.
if [ ! -f native/nccl-bridge/build/libvk_device_select.so ]; then
  node native/nccl-bridge/build.mjs >"$OUT/native-build.txt" 2>&1 || true
fi
nvidia-smi --query-gpu=index,name,memory.used,memory.total --format=csv >"$OUT/nvidia-smi.csv" 2>/dev/null || true
export MODEL="${MODEL:-random:flux1-dev}" GPUS="${GPUS:-2}" MAX_DEGREE="${MAX_DEGREE:-2}" STEPS="${STEPS:-8}" RESOLUTIONS="${RESOLUTIONS:-256,512,1024}"
export SECONDS_PER_RUN="${SECONDS_PER_RUN:-25}" RATE_PER_MIN="${RATE_PER_MIN:-36}" SLO_FACTOR="${SLO_FACTOR:-1.5}" SLO_SCALE="${SLO_SCALE:-1.2}"
export MIXES="${MIXES:-uniform,skewed}" POLICIES="${POLICIES:-tetriserve,xdit:2,rssp,xdit:1}" SEED="${SEED:-1}" TXT_TOKENS="${TXT_TOKENS:-512}" ROBUSTNESS=0
timeout 470 node scripts/serve-experiment.mjs 2>&1 | grep --line-buffered -v 'deprecated builtin' | tee "$OUT/log.txt"
echo "exit: ${PIPESTATUS[0]}" | tee -a "$OUT/log.txt"
