#!/usr/bin/env bash
# What one GPU-machine session runs (device tool), in phases, logging everything under $OUT.
#   source .gpu/env.sh && bash scripts/gpu-run.sh tests parity       (correctness on the GPU)
#   source .gpu/env.sh && bash scripts/gpu-run.sh kernels model      (benchmarks, each beside PyTorch in the same run)
# npx is not available there: node runs the tools from node_modules directly.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=/tmp
node node_modules/typescript/bin/tsc -p tsconfig.json || exit 1
node bin/dit.js doctor > "$OUT/doctor.txt" 2>&1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv >> "$OUT/doctor.txt" 2>&1
for phase in "$@"; do
  echo "=== $phase $(date -u +%FT%TZ)"
  case "$phase" in
    tests)
      node node_modules/vitest/vitest.mjs run test/kernels test/graph test/models 2>&1 | tee "$OUT/gpu-tests.log" | grep -E "Test Files|Tests |FAIL|✓ test|❯ test" ;;
    quicktests)
      node node_modules/vitest/vitest.mjs run test/kernels/attention test/kernels/norm.test.ts test/models test/graph 2>&1 | tee "$OUT/gpu-tests.log" | grep -E "Test Files|Tests |FAIL|✓ test|❯ test" ;;
    parity)
      python3 bench/reference/flux_fullsize_parity.py --ckpt /tmp/flux-random.safetensors --golden /tmp/flux-parity-1024.safetensors --res 1024 --txt 512 2>&1 | grep -v -i warn | tee "$OUT/parity-ref.log"
      node bin/dit.js parity /tmp/flux-random.safetensors /tmp/flux-parity-1024.safetensors --json 2>/dev/null | grep '^{' | tee "$OUT/parity.json"
      rm -f /tmp/flux-random.safetensors ;;
    kernels)
      node bin/dit.js bench kernels --suite full --emit-spec /tmp/kernel-spec.json
      python3 bench/reference/kernels_ref.py /tmp/kernel-spec.json "$OUT/torch-kernels.json" 2>&1 | tail -3
      node bin/dit.js bench kernels --suite full --reference "$OUT/torch-kernels.json" --out "$OUT" 2>&1 | grep -v Warning ;;
    kernels1024)
      node bin/dit.js bench kernels --suite flux --filter flux1024 --emit-spec /tmp/kernel-spec.json
      python3 bench/reference/kernels_ref.py /tmp/kernel-spec.json "$OUT/torch-kernels-1024.json" 2>&1 | tail -1
      node bin/dit.js bench kernels --suite flux --filter flux1024 --reference "$OUT/torch-kernels-1024.json" --out "$OUT/k1024" 2>&1 | grep -E "ms|wrote" ;;
    model)
      python3 bench/reference/step_time.py --flux-res 512,1024,2048 --sd3-res 1024 --out "$OUT/torch-step.json" 2>&1 | tail -6
      node bin/dit.js bench model --flux 512,1024,2048 --sd3 1024 --reference "$OUT/torch-step.json" --out "$OUT" --profile "$OUT/profile.json" 2>&1 | grep -v Warning ;;
    *) echo "unknown phase $phase" ;;
  esac
done
