#!/usr/bin/env bash
# End-to-end FLUX.1-dev text to image at 1024x1024, 28 steps, on random full-size weights (issue 10, "Speed and
# memory"): ours (`dit generate`) beside diffusers' FluxPipeline, eager and torch.compile, in the same run.
#   source .gpu/env.sh && bash scripts/gpu-pipeline.sh                 # all phases, one H200: about 10-15 minutes
#   source .gpu/env.sh && bash scripts/gpu-pipeline.sh make ours       # or any of: tests make ours torch report clean
# Phases (everything under $OUT):
#   tests   test/pipeline on the GPU (tensor-core paths): sampler, pipeline vs diffusers goldens  -> pipeline-tests.log
#   make    bench/reference/pipeline_e2e.py make: random FluxPipeline folder in $E2E (~34 GB, bf16)
#   ours    dit generate --json on two prompts (the first compiles; the second is the steady state), GPU memory
#           sampled by nvidia-smi every 200 ms                                    -> ours-pipeline.jsonl, ours-gpu-mem.csv
#   torch   pipeline_e2e.py time: FluxPipeline eager + torch.compile              -> torch-pipeline.json
#   both    on a 2-GPU machine: `ours` on GPU 0 and `torch` on GPU 1 at the same time (one Dawn device per GPU through
#           the device-select layer of native/nccl-bridge, CUDA_VISIBLE_DEVICES for PyTorch); same folder, same call
#   report  PIPELINE.md: stage times, (text + VAE) / (28 x step) for both, peak memory
#   clean   deletes $E2E
# Needs PYTHONPATH to hold diffusers (/work/diffusers-src/src carried over). Local smoke test with tiny configs:
#   PYTHON=/work/pyref/bin/python PYTHONPATH=/work/diffusers-src/src E2E_TINY=1 OUT=/tmp/o bash scripts/gpu-pipeline.sh
[ -f .gpu/env.sh ] && source .gpu/env.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}
E2E=${E2E:-/tmp/flux-e2e}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
if [ -n "${E2E_TINY:-}" ]; then SIZE=64; STEPS=3; SEQ=32; TINY=--tiny; else SIZE=1024; STEPS=28; SEQ=512; TINY=; fi
phases=("$@")
[ ${#phases[@]} -eq 0 ] && phases=(make ours torch report clean)
[ -n "${NO_TSC:-}" ] || node node_modules/typescript/bin/tsc -p tsconfig.json > "$OUT/tsc.log" 2>&1 || echo "tsc reported errors (see tsc.log); continuing with the emitted dist/"
[ -f dist/cli/main.js ] || { echo "dist/cli/main.js missing: the build failed"; exit 1; }
rc=0
for phase in "${phases[@]}"; do
  echo "=== $phase $(date -u +%FT%TZ)"
  case "$phase" in
    tests)
      node node_modules/vitest/vitest.mjs run test/pipeline > "$OUT/pipeline-tests.log" 2>&1 || rc=1
      grep -E "Test Files|Tests |FAIL|×|relL2" "$OUT/pipeline-tests.log" | head -30 ;;
    make)
      "$PY" bench/reference/pipeline_e2e.py make --folder "$E2E" $TINY 2>&1 | grep -v -i -E "warn|shards|float32: \[\]" | tee "$OUT/pipeline-make.log" ;;
    ours)
      printf 'a photo of a red fox in the snow, highly detailed\na watercolour of a lighthouse at dusk\n' > /tmp/e2e-prompts.txt
      mem_pid=
      if command -v nvidia-smi > /dev/null; then
        nvidia-smi -i "${OURS_GPU:-0}" --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$OUT/ours-gpu-mem.csv" 2>/dev/null &
        mem_pid=$!
      fi
      node bin/dit.js generate --prompts /tmp/e2e-prompts.txt --model "$E2E" --size "${SIZE}x${SIZE}" --steps "$STEPS" \
        --max-sequence-length "$SEQ" --guidance 3.5 --seed 0 --json --no-progress -o "$OUT/ours.png" 2> "$OUT/ours-pipeline.log" \
        | tee "$OUT/ours-pipeline.jsonl"
      [ "${PIPESTATUS[0]}" -eq 0 ] || { rc=1; tail -5 "$OUT/ours-pipeline.log"; }
      [ -n "$mem_pid" ] && kill "$mem_pid" 2> /dev/null ;;
    torch)
      nc=; [ -n "${E2E_TINY:-}" ] && nc=--no-compile
      "$PY" bench/reference/pipeline_e2e.py time --folder "$E2E" --out "$OUT" --size "$SIZE" --steps "$STEPS" --seq "$SEQ" $nc 2>&1 \
        | grep -v -i -E "warn|Loading" | tee "$OUT/torch-pipeline.log"
      [ -f "$OUT/torch-pipeline.json" ] || rc=1 ;;
    both)
      source "$(dirname "$0")/lib/on-gpu.sh"
      ( on_gpu 0; export OURS_GPU=0
        NO_TSC=1 timeout "${OURS_S:-420}" bash "$0" ours > "$OUT/both-ours.log" 2>&1; echo "ours rc=$?" >> "$OUT/both-ours.log" ) &
      ( export CUDA_VISIBLE_DEVICES=1
        NO_TSC=1 timeout "${TORCH_S:-440}" bash "$0" torch > "$OUT/both-torch.log" 2>&1; echo "torch rc=$?" >> "$OUT/both-torch.log" ) &
      wait
      tail -n 4 "$OUT/both-ours.log" "$OUT/both-torch.log"
      grep -q "rc=0" "$OUT/both-ours.log" && grep -q "rc=0" "$OUT/both-torch.log" || rc=1 ;;
    report)
      "$PY" - "$OUT" "$STEPS" <<'PYEOF'
import json, os, sys
out, steps = sys.argv[1], int(sys.argv[2])
lines = []
def row(name, text, step, den, vae, total, mem):
    extra = (text + vae) / (steps * step) if step else float("nan")
    lines.append(f"| {name} | {text:.0f} | {step:.1f} | {den:.0f} | {vae:.0f} | {total:.0f} | {100 * extra:.1f}% | {mem} |")
lines += ["| pipeline | text ms | step ms | denoise ms | VAE decode ms | total ms | (text + VAE) / (steps x step) | peak GPU memory |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
p = os.path.join(out, "ours-pipeline.jsonl")
if os.path.exists(p):
    runs = [json.loads(l) for l in open(p) if l.startswith("{")]
    mem = "-"
    mp = os.path.join(out, "ours-gpu-mem.csv")
    if os.path.exists(mp):
        vals = [int(x) for x in open(mp).read().split() if x.strip().isdigit()]
        if vals: mem = f"{max(vals) / 1024:.1f} GiB (nvidia-smi, whole process)"
    for i, r in enumerate(runs):
        t = r["times"]
        step = (t["denoiseMs"] - t["compileMs"]) / steps
        row(f"ours ({'first: compiles' if i == 0 else 'steady state'})", t["textMs"], step, t["denoiseMs"], t["decodeMs"], t["totalMs"], mem)
p = os.path.join(out, "torch-pipeline.json")
if os.path.exists(p):
    r = json.load(open(p))
    for k in ("eager", "compiled"):
        if k in r:
            e = r[k]
            mem = f"{e['peak_gpu_bytes'] / 2**30:.1f} GiB (max_memory_allocated)" if "peak_gpu_bytes" in e else "-"
            row(f"diffusers FluxPipeline {k}", e["text_ms"], e["step_ms"], e["denoise_ms"], e["vae_decode_ms"], e["total_ms"], mem)
md = "# FLUX.1-dev end to end (random full-size weights)\n\n" + "\n".join(lines) + "\n"
open(os.path.join(out, "PIPELINE.md"), "w").write(md)
print(md)
PYEOF
      ;;
    clean) rm -rf "$E2E" ;;
    *) echo "unknown phase $phase (tests make ours torch both report clean)"; rc=1 ;;
  esac
done
exit $rc
