#!/usr/bin/env bash
# Ninth session (2026-12-01), thirteenth nvidia-h200 call, ~4 minutes: the 512² half of the final comparison, whose
# torch.compile run did not fit call 12's deadline: `dit bench model --flux 512 --int8 --idle-wait 0.85 --reps 9`, then
# diffusers' FluxTransformer2DModel eager and torch.compile at 512² in the same command.
# Carry: .gpu, dist, native/nccl-bridge/build, .diffusers-src.tar.xz.
rm -rf /tmp/results
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
timeout 70 node bin/dit.js bench model --flux 512 --sd3 '' --int8 --idle-wait 0.85 --reps 9 --out "$R/model-512" > "$R/model-512.console" 2>&1
echo "model rc=$? at $(el) s" >> "$R/model-512.console"
PYTHONPATH=$PWD/.diffusers-src timeout $(( 330 - $(el) )) python3 bench/reference/flux_transformer_step.py --res 512 --iters 10 --warmup 3 --modes eager,compile \
  --deadline-s $(( 300 - $(el) )) --compile-min-left-s 100 --out "$R/diffusers-step.json" --reference-prefix "$R/diffusers" > "$R/diffusers.console" 2>&1
echo "diffusers rc=$? at $(el) s" >> "$R/diffusers.console"
echo "=== done ($(el) s)"
grep -a -E "ms/step|rc=" "$R/model-512.console"; grep -a -E "median|rc=|skipped" "$R/diffusers.console" | tail -5
tar -czf "$OUT/results.tgz" -C "$R" .
