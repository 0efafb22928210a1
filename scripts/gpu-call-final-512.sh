#!/usr/bin/env bash
# One nvidia-h200 call (fourth session, ~3 minutes, one GPU, sequential): our FLUX.1-dev step at 512² and 1024² with
# the committed tables and split-K in the graph (`dit bench model`), then diffusers' FluxTransformer2DModel eager and
# torch.compile at 512² on the same GPU, in the same command. Carry: .gpu, dist, .diffusers-src.tar.xz.
WITH_DIFFUSERS=1 source scripts/lib/gpu-call-prelude.sh
bench_model model
PYTHONPATH=$PWD/.diffusers-src timeout 170 python3 bench/reference/flux_transformer_step.py --res 512 --iters 10 --warmup 3 \
  --out "$R/diffusers-step.json" --reference-prefix "$R/diffusers" > "$R/diffusers.console" 2>&1
echo "diffusers rc=$? at $(el) s" >> "$R/diffusers.console"
grep -h -E "ms/step|rc=" "$R/model.console"; tail -n 4 "$R/diffusers.console" | cut -c1-200
tar -czf "$OUT/results.tgz" -C "$R" .
