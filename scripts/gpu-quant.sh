# Quantized weights (issue 16) on the GPU machine (one H200), one run, non-interactive, under 8 minutes (every
# phase has a hard `timeout`; worst case 75 + 90 + 225 + 80 s = 7.8 min). Results under $OUT/quant/:
#   tsc.log           the build (dist/ is emitted even if work in progress elsewhere has type errors)
#   quant-tests.log   the dequant kernel, quantized-loading, resident-mode and fused-B-tile tests on the real device
#                     (bit-exactness against the torch float8 / gguf.quants goldens on NVIDIA, not only lavapipe;
#                     the fused linear = the linear over the expanded weight, bit for bit, every format, real
#                     tensor cores)
#   quant.json/.log   src/bench/bench-quant.ts: dequant kernel GB/s per format on a [12288, 3072] weight; the f16
#                     random-weight FLUX.1-dev 1024² step; then full-size FLUX.1-dev files of random valid quantized
#                     data (GGUF Q8_0 ~12.7 GB, GGUF Q4_K ~6.8 GB, scaled fp8 safetensors ~12 GB; written by our own
#                     writers to $QUANT_TMP one at a time and deleted after use), each loaded in both weights modes
#                     (expand: f16 at load; resident: kept quantized, expanded per layer at use): load seconds, GPU
#                     weight bytes, activation bytes, 1024² step ms and its ratio to the f16 step (issue bound:
#                     resident <= 1.2x), and for resident the profiled dequant GPU ms; then (tensor cores only) the
#                     fused B-tile dequant linear vs dequant + linear at FLUX's [4608x3072]x[12288x3072]^T for
#                     Q8_0 / Q4_K / fp8 (kernel ms, `fused` in quant.json). quant.json is rewritten after
#                     every measurement, so a phase cut by its timeout keeps what it measured.
#   torch-step.json   PyTorch bf16 eager step time of the same FLUX.1-dev 1024² shape (bench/reference/step_time.py,
#                     random bf16 weights: the time does not depend on the values, so it stands for "PyTorch on the
#                     same dequantized weights").
# Needs: node + node_modules (.gpu/env.sh), the NVIDIA Vulkan driver, python3 with torch (for torch-step.json only;
# no `gguf` package: the test fixtures are committed and the big files are written in TypeScript), ~13 GB free disk
# under $QUANT_TMP, ~30 GB host RAM (page cache of one file).
#   OUT=$OUT bash scripts/gpu-quant.sh
#   QUANT_DRY_RUN=1 OUT=/tmp/out bash scripts/gpu-quant.sh   (tiny FLUX, 64², any adapter incl. lavapipe: how it was checked)
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=${QUANT_DRY_RUN:-0}
[ "$DRY" = 1 ] || source .gpu/env.sh
OUT=${OUT:-/tmp/out}
QUANT_TMP=${QUANT_TMP:-/tmp/quant-bench}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT/quant" "$QUANT_TMP"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
t0=$(date +%s)
phase() { echo "=== $1 $(date -u +%FT%TZ) (+$(( $(date +%s) - t0 )) s)"; }

phase build
timeout 75 node node_modules/typescript/bin/tsc -p tsconfig.json > "$OUT/quant/tsc.log" 2>&1 || echo "tsc reported errors or timed out (see $OUT/quant/tsc.log); dist/ as emitted is what runs"

phase tests
timeout 90 node node_modules/vitest/vitest.mjs run test/kernels/dequant.test.ts test/loading/quant.test.ts test/loading/quant-resident.test.ts test/loading/quant-fused.test.ts > "$OUT/quant/quant-tests.log" 2>&1
echo "tests exit $? (124 = timeout)"
grep -E "Test Files|Tests |FAIL|×|relL2|resident" "$OUT/quant/quant-tests.log" | head -30

phase bench
if [ "$DRY" = 1 ]; then
  timeout 225 node bin/dit.js bench quant --dry --out "$OUT/quant" --tmp "$QUANT_TMP" 2>&1 | grep -v "Warning: maxDyn"
else
  timeout 225 node bin/dit.js bench quant --out "$OUT/quant" --tmp "$QUANT_TMP" --res 1024 --reps 5 2>&1 | grep -v "Warning: maxDyn"
fi
echo "bench exit ${PIPESTATUS[0]} (124 = timeout; quant.json holds what was measured)"
rm -rf "$QUANT_TMP"

if [ "$DRY" != 1 ]; then
  phase "PyTorch step"
  timeout 80 $PYTHON bench/reference/step_time.py --flux-res 1024 --sd3-res "" --warmup 2 --iters 5 --max-seconds 60 --out "$OUT/quant/torch-step.json" 2>&1 | tail -4
  echo "torch exit ${PIPESTATUS[0]}"
fi
phase done
