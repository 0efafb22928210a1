#!/usr/bin/env bash
# Issue 7 on the GPU machine: Dawn's native warnings and Tint's compiler messages. ~3 minutes on an H200 (cold).
#   source .gpu/env.sh && bash test/gpu/gpu-warnings-check.sh        (on the GPU machine; writes under $OUT)
#   bash test/gpu/gpu-warnings-check.sh                               (here, on lavapipe: same steps, no tensor cores)
# Prints one summary; every log stays in $OUT. Checks:
#  1. `dit doctor`, `dit bench kernels --suite quick` and `dit parity` (tiny FLUX) print no Dawn "Warning:" line and no Tint message by
#     default (stderr and stdout), and the device reports its subgroup-matrix spelling (caps.subgroupMatrixSyntax);
#  2. with --debug, the number of "deprecated builtin" compiler messages (0 once the generators spell loads and
#     stores through src/gpu/subgroup-matrix-syntax.ts);
#  3. the tests: both spellings give the float64 product on the tensor cores, every generator's shader compiles
#     with no message, the capture and the CLI checks.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
node node_modules/typescript/bin/tsc -p tsconfig.json > "$OUT/build.log" 2>&1 || { echo "build failed:"; tail -5 "$OUT/build.log"; exit 1; }
node native/nccl-bridge/build.mjs > "$OUT/native-build.log" 2>&1
[ -f native/nccl-bridge/build/fd_capture.node ] && echo "fd_capture addon: built" || echo "fd_capture addon: MISSING (see native-build.log)"

node bin/dit.js doctor > "$OUT/doctor.out" 2> "$OUT/doctor.err"; echo "doctor rc=$?"
node bin/dit.js doctor --json 2>/dev/null | grep -E '"(adapterName|tensorCores|subgroupMatrixSyntax)"' | tr -s ' '
node bin/dit.js bench kernels --suite quick --reps 3 --out "$OUT/quick" > "$OUT/quick.out" 2> "$OUT/quick.err"; echo "bench quick rc=$?"
node bin/dit.js bench kernels --suite quick --reps 1 --out "$OUT/quick-debug" --debug > "$OUT/quick-debug.out" 2> "$OUT/quick-debug.err"; echo "bench quick --debug rc=$?"
node bin/dit.js parity test/fixtures/tiny-models/flux-tiny test/golden/flux-tiny.safetensors > "$OUT/parity.out" 2> "$OUT/parity.err"; echo "parity (tiny FLUX) rc=$?"
count() { cat "$@" 2>/dev/null | grep -c -E "$pat"; }
pat='^Warning: |artificially reduced|deprecated builtin|Compilation log|warning:'
echo "default output, Dawn/Tint lines (want 0): doctor $(count "$OUT"/doctor.*), bench quick $(count "$OUT"/quick.out "$OUT"/quick.err), parity $(count "$OUT"/parity.*)"
pat='deprecated builtin'
echo "--debug, 'deprecated builtin' compiler messages (want 0): $(count "$OUT"/quick-debug.*)"
grep -h 'deprecated builtin' "$OUT"/quick-debug.* 2>/dev/null | sed -n "s/^\[gpu\] shader '\([a-z-]*\).*/  by shader kind: \1/p" | sort | uniq -c
pat='^\[gpu\] shader'
echo "--debug, all compiler messages shown: $(count "$OUT"/quick-debug.err)"

tests="test/gpu/subgroup-matrix-syntax.test.ts test/gpu/native-output.test.ts test/cli/dawn-output.test.ts"
[ -f test/gpu/tensor-core-shaders.test.ts ] && tests="$tests test/gpu/tensor-core-shaders.test.ts"
# shellcheck disable=SC2086
node node_modules/vitest/vitest.mjs run $tests > "$OUT/tests.log" 2>&1; echo "tests rc=$?"
grep -aE "Test Files|Tests |FAIL|×|↓" "$OUT/tests.log" | head -20
