#!/usr/bin/env bash
# One nvidia-h200 call (fifth session, 2026-11-30), ~2 minutes: does the serving engines' idle wait (sleep 85% of a
# step's GPU time before asking Dawn for the result) remove the wall-time outliers of the FLUX.1-dev step? The same
# `dit bench model --flux 512,1024 --int8 --reps 9` without and with `--idle-wait 0.85`, then without again.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
for run in wait0-a wait85 wait0-b; do
  w=0; [ "$run" = wait85 ] && w=0.85
  MODEL_S=120 MODEL_ARGS="--int8 --reps 9 --idle-wait $w" bench_model "model-$run"
done
grep -a -E "ms/step" "$R"/model-*.console
tar -czf "$OUT/results.tgz" -C "$R" .
