#!/usr/bin/env bash
# VAE on the GPU machine, one run: (1) the VAE tests on the real device (tensor-core conv and attention paths, which
# lavapipe never takes); (2) a full-size FLUX.1 VAE with random weights (bench/reference/vae_fullsize.py writes it
# to /tmp, with PyTorch's float32 decode at 1024² as the parity golden and PyTorch's float32 / bf16 decode times);
# (3) `dit bench vae` on that checkpoint: our decode time at 512² and 1024², memory, where the time goes, and parity
# against float32 PyTorch (untiled and tiled). Results: $OUT/vae/{gpu-vae-tests.log, vae-torch.json, vae.json, VAE.md}.
#   source .gpu/env.sh && PYTHONPATH=<diffusers>/src bash scripts/gpu-vae.sh
# PYTHONPATH must reach diffusers' src/ (the GPU machine has torch but not diffusers). Needs ~2 GB of /tmp.
# VAE_DRY_RUN=1 runs the same steps without a GPU (toy-width VAE on the CPU, 64² only): how this script was checked,
#   VAE_DRY_RUN=1 PYTHON=/work/pyref/bin/python PYTHONPATH=/work/diffusers-src/src OUT=/tmp/vae-dry bash scripts/gpu-vae.sh
source .gpu/env.sh 2>/dev/null || [ "${VAE_DRY_RUN:-0}" = 1 ] || { echo "gpu-vae: no .gpu/env.sh (run ../shared/device/pack.sh first)"; exit 1; }
set -uo pipefail
PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/out}
if [ "${VAE_DRY_RUN:-0}" = 1 ]; then
  REF_ARGS="--device cpu --tiny --res 64 --time-res 64 --reps 1"; RES=64
else
  REF_ARGS="--res 1024 --time-res 512,1024"; RES=512,1024
fi
mkdir -p "$OUT/vae"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# Other work in progress may carry type errors; tsc still emits dist/ (no noEmitOnError), which is what runs.
node node_modules/typescript/bin/tsc -p tsconfig.json > "$OUT/vae/tsc.log" 2>&1 || echo "tsc reported errors (see $OUT/vae/tsc.log); dist/ emitted anyway"
echo "=== tests $(date -u +%FT%TZ)"
node node_modules/vitest/vitest.mjs run test/models/vae.test.ts test/models/vae-tiling.test.ts test/models/vae-bench.test.ts 2>&1 | tee "$OUT/vae/gpu-vae-tests.log" | grep -E "Test Files|Tests |FAIL|✓|×|relL2" 
echo "=== PyTorch reference $(date -u +%FT%TZ)"
$PYTHON bench/reference/vae_fullsize.py --ckpt /tmp/vae-flux-random --golden /tmp/vae-golden-1024.safetensors \
  $REF_ARGS --out "$OUT/vae/vae-torch.json" 2>&1 | grep -v -i -E "warn|accelerate|^\`\`\`|^pip|^\.$|kept in float32" | tee "$OUT/vae/vae-torch.log"
echo "=== ours $(date -u +%FT%TZ)"
node bin/dit.js bench vae --res "$RES" --checkpoint /tmp/vae-flux-random --golden /tmp/vae-golden-1024.safetensors \
  --reference "$OUT/vae/vae-torch.json" --out "$OUT/vae" 2>&1 | grep -v -E "Warning|deprecated" | tee "$OUT/vae/vae-bench.log"
rm -rf /tmp/vae-flux-random /tmp/vae-golden-1024.safetensors
echo "=== done $(date -u +%FT%TZ)"
