#!/usr/bin/env bash
# One nvidia-h200-x2 call for issue 10's end-to-end measurement (≤ 9.5 min): random full-size FLUX.1-dev pipeline
# folder, then `dit generate` on GPU 0 and diffusers' FluxPipeline (eager, torch.compile) on GPU 1 at the same time,
# then PIPELINE.md. Carry: .gpu (GPU_PACK_PROFILE=run scripts/gpu-pack.sh), .dist-snap (a built dist/ of the commit
# under test), .diffusers-src.tar.xz (diffusers' src/, trimmed).
set -uo pipefail
rm -rf node_modules && source .gpu/env.sh
rm -rf dist && cp -r .dist-snap dist
export DIT_ALLOW_STALE_BUILD=1 NO_TSC=1 XDG_RUNTIME_DIR=/tmp CUDA_DEVICE_ORDER=PCI_BUS_ID
mkdir -p .diffusers-src && tar -xJf .diffusers-src.tar.xz -C .diffusers-src
export PYTHONPATH=$PWD/.diffusers-src
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > "$OUT/gpus.csv"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee "$OUT/versions.txt"
[ -f native/nccl-bridge/build/libvk_device_select.so ] || node native/nccl-bridge/build.mjs --force > "$OUT/native-build.log" 2>&1 || echo "native build failed (see native-build.log)"
echo "=== make ($(el) s)"; timeout "${MAKE_S:-170}" bash scripts/gpu-pipeline.sh make
echo "=== both ($(el) s)"; bash scripts/gpu-pipeline.sh both
echo "=== report ($(el) s)"; bash scripts/gpu-pipeline.sh report
echo "=== done ($(el) s)"
rm -rf /tmp/flux-e2e
