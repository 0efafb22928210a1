#!/usr/bin/env bash
# Sixth session (2026-11-30), fourth and fifth calls, one nvidia-h200, ~1-2 minutes each: is the FLUX.1-dev step's
# wall-time spread (30-60% of steps 15-50 ms above GPU time + encode; docs/int8.md) garbage collection?
# `dit bench model --flux 512 --reps 40`, each step logged (DIT_BENCH_STEP_LOG=1) beside node's --trace-gc.
#   GC_RUNS="plain semi64 gc-each" (fourth call): plain; --max-semi-space-size=64 (fewer promotions into the old
#     generation); --expose-gc with a collection before every timed step (DIT_BENCH_GC=each, outside the timed span).
#   GC_RUNS="plain gc-wait idle85 plain1024 gc-wait1024" (fifth call): a collection while the GPU runs each step
#     (DIT_BENCH_GC=wait), the server's idle wait alone (--idle-wait 0.85), and 1024² plain / gc-wait.
# Carry: .gpu, dist, native/nccl-bridge/build.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
export DIT_BENCH_STEP_LOG=1
run() {  # name, resolution, dit flags, node flags...
  local name=$1 res=$2 flags=$3; shift 3
  timeout 110 node --trace-gc "$@" bin/dit.js bench model --flux "$res" --sd3 '' --reps 40 $flags --out "$R/$name" > "$R/$name.console" 2>&1
  echo "$name rc=$? at $(el) s" >> "$R/$name.console"
}
GC_RUNS=${GC_RUNS:-plain semi64 gc-each}
for n in $GC_RUNS; do
  case $n in
    plain) run plain 512 '' ;;
    semi64) run semi64 512 '' --max-semi-space-size=64 ;;
    gc-each) DIT_BENCH_GC=each run gc-each 512 '' --expose-gc ;;
    gc-wait) DIT_BENCH_GC=wait run gc-wait 512 '' --expose-gc ;;
    idle85) run idle85 512 '--idle-wait 0.85' ;;
    plain1024) run plain1024 1024 '' ;;
    gc-wait1024) DIT_BENCH_GC=wait run gc-wait1024 1024 '' --expose-gc ;;
  esac
done
for n in $GC_RUNS; do
  echo "== $n"; grep -a -E "ms/step|rc=" "$R/$n.console"
  grep -a -c "Mark-Compact" "$R/$n.console"; grep -a -c "Scavenge" "$R/$n.console"
done
tar -czf "$OUT/results.tgz" -C "$R" .
