#!/usr/bin/env bash
# One nvidia-h200-x2 call for issue 13 (fourth session, 2026-11-30), ~6 minutes, two GPUs side by side:
#   GPU 0: bench/attention-tune.ts (vec4 score/probability scratch first), then `dit bench model --flux 512,1024`
#          with its table and the committed matmul table (while GPU 1 runs diffusers eager), and again at the end
#          when GPU 1 is idle ("quiet").
#   GPU 1: the attention tests on the real tensor cores, then diffusers' FluxTransformer2DModel eager and
#          torch.compile at 1024² and 512².
# Carry: .gpu (GPU_PACK_PROFILE=tests-run), dist, native/nccl-bridge/build, results/tmp/bench-build,
# .diffusers-src.tar.xz. Everything lands in $OUT/results.tgz.
set -uo pipefail
rm -rf node_modules && source .gpu/env.sh > /dev/null
mkdir -p .diffusers-src && tar -xJf .diffusers-src.tar.xz -C .diffusers-src
export XDG_RUNTIME_DIR=/tmp CUDA_DEVICE_ORDER=PCI_BUS_ID NCCL_NVLS_ENABLE=0 DIT_ALLOW_STALE_BUILD=1
OUT=${OUT:-/tmp/out}; R=/tmp/results; mkdir -p "$OUT" "$R"
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.sm --format=csv > "$R/gpus.csv"
[ -f native/nccl-bridge/build/libvk_device_select.so ] || node native/nccl-bridge/build.mjs > "$R/native-build.log" 2>&1
source scripts/lib/on-gpu.sh
model() { # $1 = output folder
  [ -f "$R/attention-tune/attention-table.json" ] && export DIT_ATTENTION_TABLE="$R/attention-tune/attention-table.json"
  timeout "${MODEL_S:-120}" node bin/dit.js bench model --flux 512,1024 --sd3 '' --reps 5 --out "$R/$1" > "$R/$1.console" 2>&1
  echo "$1 rc=$? at $(el) s (matmul table ${DIT_MATMUL_TILE_TABLE:-committed}, attention table ${DIT_ATTENTION_TABLE:-committed})" >> "$R/$1.console"
}
( on_gpu 0
  ATTN_TUNE_BUDGET_S=${ATT_S:-130} timeout 180 node results/tmp/bench-build/bench/attention-tune.js --out "$R/attention-tune" \
    2>&1 | grep -a -v -E 'deprecated|^Warning: maxDyn' > "$R/attention.console"
  echo "attention tune rc=${PIPESTATUS[0]} at $(el) s" >> "$R/attention.console"
  model model
  while [ ! -f "$R/diffusers.done" ] && [ "$(el)" -lt "${QUIET_AT_S:-380}" ]; do sleep 2; done
  model model-quiet ) &
( on_gpu 1
  timeout "${TEST_S:-80}" node node_modules/vitest/vitest.mjs run test/kernels/attention.test.ts > "$R/kernel-tests.log" 2>&1
  echo "kernel tests rc=$? at $(el) s" >> "$R/kernel-tests.log"
  left=$(( ${DIFF_END_S:-370} - $(el) ))
  PYTHONPATH=$PWD/.diffusers-src timeout "$left" python3 bench/reference/flux_transformer_step.py --res 1024,512 --iters 10 --warmup 3 \
    --deadline-s $(( left - 30 )) --compile-min-left-s 100 --out "$R/diffusers-step.json" --reference-prefix "$R/diffusers" > "$R/diffusers.console" 2>&1
  echo "diffusers rc=$? at $(el) s" >> "$R/diffusers.console"; touch "$R/diffusers.done" ) &
wait
echo "=== done ($(el) s)"
tail -n 5 "$R/kernel-tests.log"; grep -a -E "best|rc=" "$R/attention.console" | head -8
grep -a -E "ms/step|rc=" "$R/model.console" "$R/model-quiet.console"
tail -n 3 "$R/diffusers.console" | cut -c1-300
tar -czf "$OUT/results.tgz" -C "$R" .
ls -la "$OUT"
