#!/usr/bin/env bash
# One nvidia-h200-x2 call (≤ 9.7 min) for the measurements of issues 13, 14, 16 and 7, two GPUs side by side:
#   GPU 0: scripts/gpu-speed.sh        matmul + attention sweeps, our FLUX.1-dev step with the new tables, diffusers'
#                                      FluxTransformer2DModel eager and torch.compile (issue 13)
#   GPU 1: dit bench model --batch     batched FLUX steps at 256²/512², batch 1/2/4 (issue 14), then
#          gpu-quant.sh's benchmark    fp8 / Q8_0 / Q4_K full-size loads in both weights modes (issue 16), then its
#                                      quantization tests on the real device
#   GPU 1, beside the batch bench: test/gpu/gpu-warnings-check.sh (issue 7: Dawn/Tint messages; shader compiles on
#          the CPU and toy dispatches, so the batch timings are barely touched)
# One build at the start; the phase scripts' own tsc calls are turned off in this copy so no build rewrites dist/
# while another job runs from it. Everything lands in $OUT/results.tgz (the device tool returns at most 8 files).
# Carry: .gpu (scripts/gpu-pack.sh), .types.tgz, .diffusers-src.tar.xz, native/nccl-bridge/build.
set -uo pipefail
rm -rf node_modules && source .gpu/env.sh > /dev/null
tar -xzf .types.tgz
mkdir -p .diffusers-src && tar -xJf .diffusers-src.tar.xz -C .diffusers-src
export PYTHONPATH=$PWD/.diffusers-src XDG_RUNTIME_DIR=/tmp CUDA_DEVICE_ORDER=PCI_BUS_ID NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/out}; R=/tmp/results; mkdir -p "$OUT" "$R"
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > "$R/gpus.csv"
echo "=== build ($(el) s)"
node node_modules/typescript/bin/tsc -p tsconfig.json > "$R/tsc.log" 2>&1 || echo "tsc reported errors (see tsc.log)"
node node_modules/typescript/bin/tsc --outDir results/tmp/bench-build --rootDir . --module nodenext --moduleResolution nodenext \
  --target es2022 --lib es2023 --types node,@webgpu/types --skipLibCheck bench/matmul-tune.ts bench/attention-tune.ts > "$R/tsc-bench.log" 2>&1 || true
[ -f native/nccl-bridge/build/libvk_device_select.so ] || node native/nccl-bridge/build.mjs > "$R/native-build.log" 2>&1
sed -i 's|^phase build "\$BUILD_CAP" 330 bash -c .*|true|; s|^  phase attention-tune-build .*|  true|' scripts/gpu-speed.sh
sed -i 's|^node node_modules/typescript/bin/tsc -p tsconfig.json.*|true|; s|^node native/nccl-bridge/build.mjs.*|true|' test/gpu/gpu-warnings-check.sh
source scripts/lib/on-gpu.sh
echo "=== jobs ($(el) s)"
( on_gpu 0; OUT=$R/speed SPEED_TOTAL_S=${SPEED_S:-480} ATTENTION_TUNE_S=${ATT_S:-130} bash scripts/gpu-speed.sh > "$R/speed.console" 2>&1
  echo "speed done at $(el) s" >> "$R/speed.console" ) &
( on_gpu 1; OUT=$R/warn timeout "${WARN_S:-200}" bash test/gpu/gpu-warnings-check.sh > "$R/warn.console" 2>&1
  echo "warnings check rc=$? at $(el) s" >> "$R/warn.console" ) &
( on_gpu 1; timeout "${BATCH_S:-150}" node bin/dit.js bench model --flux 256,512 --sd3 '' --batch 1,2,4 --out "$R/batch" > "$R/batch.console" 2>&1
  echo "batch rc=$? at $(el) s" >> "$R/batch.console"
  # gpu-quant.sh's phases, reordered for this call: the full-size benchmark first, then the quantization tests on the
  # real device with what is left (its PyTorch step is not needed: gpu-speed.sh times diffusers' eager step on GPU 0)
  mkdir -p "$R/quant"; q=/tmp/quant-bench; mkdir -p $q
  timeout "${QUANT_BENCH_S:-225}" node bin/dit.js bench quant --out "$R/quant" --tmp $q --res 1024 --reps 5 > "$R/quant.console" 2>&1
  echo "quant bench rc=$? at $(el) s" >> "$R/quant.console"; rm -rf $q
  left=$(( ${GPU1_END_S:-555} - $(el) ))
  [ "$left" -gt 20 ] && timeout "$left" node node_modules/vitest/vitest.mjs run test/kernels/dequant.test.ts test/loading/quant.test.ts \
    test/loading/quant-resident.test.ts test/loading/quant-fused.test.ts > "$R/quant/quant-tests.log" 2>&1
  echo "quant tests rc=$? at $(el) s (cap ${left} s)" >> "$R/quant.console" ) &
wait
echo "=== done ($(el) s)"
for f in speed.console batch.console warn.console quant.console; do echo "--- $f"; grep -a -v -E "^Warning|deprecated" "$R/$f" | tail -n 12; done
[ -f "$R/speed/SPEED.md" ] && cat "$R/speed/SPEED.md" | head -60
tar -czf "$OUT/results.tgz" -C "$R" --exclude='*.safetensors' --exclude='*.gguf' .
ls -la "$OUT"
