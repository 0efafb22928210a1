#!/usr/bin/env bash
# Text encoders on the GPU machine (issue 9), non-interactive, everything under $OUT:
#   source .gpu/env.sh && bash scripts/gpu-encoders.sh            # all phases (about 5-8 minutes on one H200)
#   source .gpu/env.sh && bash scripts/gpu-encoders.sh tests      # or any of: tests torch ours
# Phases:
#   tests  the encoder/tokenizer/text-conditioning test files on the GPU (tensor-core paths)  -> encoders-tests.log
#   torch  bench/reference/encoders_fullsize.py: random-weight T5-XXL / CLIP-L / CLIP-G written to $ENC_WEIGHTS,
#          float32 goldens, PyTorch bf16 and f32 times                                       -> torch-encoders.json
#   ours   dit bench encoders: parity vs float32 (relL2 <= 2e-3) and time vs bf16             -> encoders.json, ENCODERS.md
# The weights (~11 GB) are deleted at the end of a successful `ours`. Local smoke test of the same path with tiny configs:
#   PYTHON=/work/pyref/bin/python ENC_TINY=1 OUT=/tmp/o bash scripts/gpu-encoders.sh torch ours
[ -f .gpu/env.sh ] && source .gpu/env.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
W=${ENC_WEIGHTS:-/tmp/enc-fullsize}
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
phases=("$@")
[ ${#phases[@]} -eq 0 ] && phases=(tests torch ours)
# tsc reports other work-in-progress files' type errors but still emits dist/; only a missing entry point is fatal.
node node_modules/typescript/bin/tsc -p tsconfig.json > "$OUT/tsc.log" 2>&1 || echo "tsc reported errors (see tsc.log); continuing with the emitted dist/"
[ -f dist/cli/main.js ] || { echo "dist/cli/main.js missing: the build failed"; exit 1; }
rc=0
for phase in "${phases[@]}"; do
  echo "=== $phase $(date -u +%FT%TZ)"
  case "$phase" in
    tests)
      node node_modules/vitest/vitest.mjs run test/models/t5.test.ts test/models/clip.test.ts test/tokenizers test/pipeline/text-conditioning.test.ts \
        > "$OUT/encoders-tests.log" 2>&1 || rc=1
      grep -E "Test Files|Tests |FAIL|×" "$OUT/encoders-tests.log" | head -20 ;;
    torch)
      "${PYTHON:-python3}" bench/reference/encoders_fullsize.py --weights "$W" --out "$OUT" ${ENC_TINY:+--tiny} 2>&1 | grep -v -i -E "warn|Writing model shards" | tee "$OUT/encoders-torch.log"
      [ -f "$OUT/torch-encoders.json" ] || rc=1 ;;
    ours)
      ref=(); [ -f "$OUT/torch-encoders.json" ] && ref=(--reference "$OUT/torch-encoders.json")
      # dist/ was built just above; run it directly (bin/dit.js refuses a dist/ older than any src file, which a
      # shared tree being edited meanwhile can trigger).
      node dist/cli/main.js bench encoders --weights "$W" "${ref[@]}" --out "$OUT" 2>&1 | grep -v -E "^Warning|deprecated" | tee "$OUT/encoders-ours.log"
      if [ "${PIPESTATUS[0]}" -eq 0 ]; then rm -rf "$W"; else rc=1; echo "kept $W for a rerun of: bash scripts/gpu-encoders.sh ours"; fi ;;
    *) echo "unknown phase $phase (tests, torch, ours)"; rc=1 ;;
  esac
done
exit $rc
