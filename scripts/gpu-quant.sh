source .gpu/env.sh
# Quantized weights (issue 16) on the GPU machine, one run, non-interactive. Results under $OUT/quant/:
#   quant-tests.log   the dequant kernel and quantized-loading tests on the real device (bit-exactness against the
#                     torch float8 / gguf.quants goldens on NVIDIA, not only lavapipe)
#   quant.json/.log   src/bench/bench-quant.ts: dequant kernel GB/s per format on a [12288, 3072] weight; full-size
#                     FLUX.1-dev files of random quantized data (scaled fp8 safetensors ~12 GB, GGUF Q8_0 ~12.7 GB,
#                     GGUF Q4_K ~7 GB, written to $QUANT_TMP and deleted after use) loaded through the real loader
#                     (load time, GPU weight bytes) and one 1024² step on them beside the step on f16 random weights
#   torch-step.json   PyTorch bf16 eager step time of the same FLUX.1-dev shape (bench/reference/step_time.py)
# Weights are expanded to f16 at load (keeping 8 bits resident and dequantizing in the matmul is not implemented),
# so the quantized step equals the f16 step by construction; the run checks that and measures load cost.
#   bash scripts/gpu-quant.sh        (QUANT_DRY_RUN=1: tiny model on any adapter, how the script was checked)
set -uo pipefail
OUT=${OUT:-/tmp/out}
QUANT_TMP=${QUANT_TMP:-/tmp/quant-bench}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT/quant" "$QUANT_TMP"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# Other work in progress may carry type errors; tsc still emits dist/ (no noEmitOnError), which is what runs.
node node_modules/typescript/bin/tsc -p tsconfig.json > "$OUT/quant/tsc.log" 2>&1 || echo "tsc reported errors (see $OUT/quant/tsc.log); dist/ emitted anyway"
echo "=== tests $(date -u +%FT%TZ)"
node node_modules/vitest/vitest.mjs run test/kernels/dequant.test.ts test/loading/quant.test.ts 2>&1 | tee "$OUT/quant/quant-tests.log" | grep -E "Test Files|Tests |FAIL|×|relL2"
echo "=== bench $(date -u +%FT%TZ)"
if [ "${QUANT_DRY_RUN:-0}" = 1 ]; then
  node dist/bench/bench-quant.js --dry --out "$OUT/quant" --tmp "$QUANT_TMP" 2>&1 | grep -v "Warning: maxDyn"
else
  node dist/bench/bench-quant.js --out "$OUT/quant" --tmp "$QUANT_TMP" --res 1024 2>&1 | grep -v "Warning: maxDyn"
  echo "=== PyTorch step $(date -u +%FT%TZ)"
  $PYTHON bench/reference/step_time.py --flux-res 1024 --sd3-res "" --out "$OUT/quant/torch-step.json" 2>&1 | tail -4
fi
rm -rf "$QUANT_TMP"
echo "=== done $(date -u +%FT%TZ)"
