#!/usr/bin/env bash
# Fourth and fifth nvidia-h200-x2 calls (fifth session, 2026-11-30), ~5 minutes: the final FLUX.1-dev step numbers,
# quiet (the fifth with per-step GPU time from pass timestamps; COMPARE_TO names the model.json the guard compares with).
#   GPU 0: `dit bench model --flux 512,1024 --int8 --reps 9`, f16 (tile table with the small-M entries) and W8A8,
#          while GPU 1 is idle, with the regression guard against the second call's model.json (--compare-warn).
#   GPU 1: once GPU 0 is done: diffusers' FluxTransformer2DModel eager and torch.compile at 1024² and 512².
# Carry: .gpu, dist, native/nccl-bridge/build, results/tmp/bench-build, .diffusers-src.tar.xz.
rm -rf /tmp/results  # a machine may keep /tmp from an earlier call
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
( on_gpu 0
  MODEL_S=150 MODEL_ARGS="--int8 --reps 9 --compare ${COMPARE_TO:-bench/results/h200x2-2026-11-30-session5/call2/model-int8-quiet/model.json} --compare-warn" bench_model model-int8
  touch "$R/quiet.done" ) &
( on_gpu 1
  while [ ! -f "$R/quiet.done" ] && [ "$(el)" -lt 200 ]; do sleep 2; done
  echo "diffusers starts at $(el) s" > "$R/diffusers.start"
  diffusers_step "${DIFF_END_S:-330}" 100 ) &
wait
echo "=== done ($(el) s)"
grep -a -E "ms/step|rc=|slower|regress" "$R/model-int8.console"
cat "$R/diffusers.start"; tail -n 3 "$R/diffusers.console" | cut -c1-300
tar -czf "$OUT/results.tgz" -C "$R" .
