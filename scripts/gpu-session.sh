#!/usr/bin/env bash
# One nvidia-h200-x2 call (≤ 9.5 min) that gathers every GPU measurement this session needs, with a time budget per
# phase so a slow phase cannot starve the others. Results go to one archive, $OUT/results.tgz (the device tool
# returns at most 8 files), plus the console log.
#   phase 0  build once: tsc, native bridge + Vulkan device-select layer (the phase scripts' own tsc calls are
#            turned off in this copy, so no two builds rewrite dist/ while another job runs node from it)
#   phase A  two jobs side by side, one per GPU:
#              GPU 1: text encoders (scripts/gpu-encoders.sh torch ours: full-size T5-XXL / CLIP-L / CLIP-G)
#              GPU 0: VAE (scripts/gpu-vae.sh), then the architecture speed check (scripts/arch-speed-check.sh)
#   phase B  sequence parallelism on both GPUs (scripts/gpu-sp.sh probe bench)
# Needs: .gpu (scripts/gpu-pack.sh), .diffusers-src.tar.xz (diffusers' src/, trimmed), .arch-old.tar.gz
# (git archive of the pre-refactor commit d684222: src bin package.json tsconfig.json).
source .gpu/env.sh
set -uo pipefail
R=/tmp/results; mkdir -p "$R"
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
mkdir -p .diffusers-src && tar -xJf .diffusers-src.tar.xz -C .diffusers-src
export PYTHONPATH=$PWD/.diffusers-src XDG_RUNTIME_DIR=/tmp NCCL_NVLS_ENABLE=0 CUDA_DEVICE_ORDER=PCI_BUS_ID
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > "$R/gpus.csv"
echo "=== phase 0 build ($(el) s)"
node node_modules/typescript/bin/tsc -p tsconfig.json > "$R/tsc.log" 2>&1 || echo "tsc reported errors (see tsc.log)"
node native/nccl-bridge/build.mjs --force > "$R/native-build.log" 2>&1 || echo "native build failed (see native-build.log)"
sed -i 's|^node node_modules/typescript/bin/tsc -p tsconfig.json|true|' scripts/gpu-encoders.sh scripts/gpu-vae.sh
sed -i 's|^(cd "\$ROOT" \&\& \$TSC -p tsconfig.json)|true|' scripts/arch-speed-check.sh
echo "=== phase A ($(el) s)"
source scripts/lib/on-gpu.sh
( on_gpu 1; export NODEVICE_SELECT=1
  OUT=$R/enc timeout "${ENC_S:-230}" bash scripts/gpu-encoders.sh torch ours > "$R/enc.log" 2>&1; echo "encoders rc=$? at $(el) s" >> "$R/enc.log" ) &
( export CUDA_VISIBLE_DEVICES=0
  OUT=$R timeout "${VAE_S:-100}" bash scripts/gpu-vae.sh > "$R/vae.log" 2>&1; echo "vae rc=$? at $(el) s" >> "$R/vae.log"
  OLD_TARBALL=.arch-old.tar.gz ROUNDS=1 REPS=5 OUT=$R/arch timeout "${ARCH_S:-125}" bash scripts/arch-speed-check.sh > "$R/arch.log" 2>&1; echo "arch rc=$? at $(el) s" >> "$R/arch.log" ) &
wait
nvidia-smi --query-gpu=index,memory.used --format=csv >> "$R/gpus.csv"
echo "=== phase B ($(el) s)"
OUT=$R/sp timeout "${SP_S:-255}" bash scripts/gpu-sp.sh probe bench > "$R/sp.log" 2>&1; echo "sp rc=$? at $(el) s" >> "$R/sp.log"
echo "=== done ($(el) s)"
for f in enc.log vae.log arch.log sp.log; do echo "--- $f"; grep -v -E "^Warning|deprecated" "$R/$f" | tail -n 14; done
tar -czf "$OUT/results.tgz" -C "$R" --exclude='*.safetensors' .
ls -la "$OUT"
