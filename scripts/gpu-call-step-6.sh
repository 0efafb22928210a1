#!/usr/bin/env bash
# Sixth session (2026-11-30), sixth call, nvidia-h200-x2, ~6 minutes: the FLUX.1-dev step as `dit generate` now waits for
# it (the idle wait, 0.85 of a step, which keeps dawn.node's garbage collections off the step's end), beside diffusers.
#   GPU 0: `dit bench model --flux 512,1024 --int8 --idle-wait 0.85 --reps 9` while GPU 1 is idle, with the regression
#          guard against call 2's model.json (compare-call2.json, --compare-warn).
#   GPU 1: once GPU 0 is done: diffusers' FluxTransformer2DModel eager and torch.compile at 1024² and 512².
# Carry: .gpu, dist, native/nccl-bridge/build, .diffusers-src.tar.xz.
rm -rf /tmp/results
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 0
  MODEL_S=180 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 9 --compare compare-call2.json --compare-warn" bench_model model-idle
  touch "$R/quiet.done" ) &
( on_gpu 1
  while [ ! -f "$R/quiet.done" ] && [ "$(el)" -lt 200 ]; do sleep 2; done
  echo "diffusers starts at $(el) s" > "$R/diffusers.start"
  diffusers_step 470 100 ) &
wait
echo "=== done ($(el) s)"
grep -a -E "ms/step|rc=|slower|regress" "$R/model-idle.console"
cat "$R/diffusers.start"; grep -a -E "ms median|rc=" "$R/diffusers.console"
tar -czf "$OUT/results.tgz" -C "$R" .
