# Sourced first by the one-call GPU scripts (scripts/gpu-call-*.sh), from the repository root on the GPU machine:
# unpacks the carried run pack (.gpu) and, with WITH_DIFFUSERS=1, the carried diffusers source; sets the results
# folder R (tarred into $OUT by the caller), el (seconds since start), gpus.csv, the device-select layer and on_gpu.
set -uo pipefail
rm -rf node_modules && source .gpu/env.sh > /dev/null
if [ "${WITH_DIFFUSERS:-0}" = 1 ]; then mkdir -p .diffusers-src && tar -xJf .diffusers-src.tar.xz -C .diffusers-src; fi
export XDG_RUNTIME_DIR=/tmp CUDA_DEVICE_ORDER=PCI_BUS_ID NCCL_NVLS_ENABLE=0 DIT_ALLOW_STALE_BUILD=1
OUT=${OUT:-/tmp/out}; R=/tmp/results; mkdir -p "$OUT" "$R"
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.sm --format=csv > "$R/gpus.csv"
[ -f native/nccl-bridge/build/libvk_device_select.so ] || node native/nccl-bridge/build.mjs > "$R/native-build.log" 2>&1
source scripts/lib/on-gpu.sh
# `dit bench model` at 512² and 1024² into $R/$1, with the sweeps' tables when this call wrote them.
bench_model() {
  [ -f "$R/tune/matmul-tile-table.json" ] && export DIT_MATMUL_TILE_TABLE="$R/tune/matmul-tile-table.json"
  [ -f "$R/attention-tune/attention-table.json" ] && export DIT_ATTENTION_TABLE="$R/attention-tune/attention-table.json"
  timeout "${MODEL_S:-120}" node bin/dit.js bench model --flux 512,1024 --sd3 '' --reps 5 ${MODEL_ARGS:-} --out "$R/$1" > "$R/$1.console" 2>&1
  echo "$1 rc=$? at $(el) s (matmul table ${DIT_MATMUL_TILE_TABLE:-committed}, attention table ${DIT_ATTENTION_TABLE:-committed})" >> "$R/$1.console"
}
# diffusers' FluxTransformer2DModel eager and torch.compile (DIFF_MODES: more modes, e.g. fbc-compute,fbc-reuse) at 1024² and 512² (bench/reference/flux_transformer_step.py),
# ending by second $1 of the call (no measurement starts within 30 s of it; a compile needs $2 s left); writes
# $R/diffusers-step.json, $R/diffusers-{eager,compile}.json and $R/diffusers.done.
diffusers_step() {
  local left=$(( $1 - $(el) ))
  PYTHONPATH=$PWD/.diffusers-src timeout "$left" python3 bench/reference/flux_transformer_step.py --res 1024,512 --iters 10 --warmup 3 --modes "${DIFF_MODES:-eager,compile}" \
    --deadline-s $(( left - 30 )) --compile-min-left-s "$2" --out "$R/diffusers-step.json" --reference-prefix "$R/diffusers" > "$R/diffusers.console" 2>&1
  echo "diffusers rc=$? at $(el) s" >> "$R/diffusers.console"; touch "$R/diffusers.done"
}
