#!/usr/bin/env bash
# Eighth session (2026-12-01), first nvidia-h200 call, ~5 minutes: two experiments, no diffusers.
#   (1) bench/attention-waves.js: fused attention time against the number of heads at 4608 and 1536 tokens with the
#       committed table's tiles (is the speed at these lengths lost to wave quantization?).
#   (2) `dit bench model --flux 512,1024 --int8 --reps 7` three times: the gated residual linears fused in place
#       (committed), fused with the residual in its own read-only binding (DIT_EXPERIMENT_RESIDUAL=separate), and
#       unfused (GEMM writes the gated branch as f32, an add kernel adds it: =unfused).
#   (3) the kernel suite's gated-residual, proj and modulation cases beside PyTorch.
# Carry: .gpu, dist, native/nccl-bridge/build. Needs .bench-build/ (bench tsc line) in the tree.
rm -rf /tmp/results
source scripts/lib/gpu-call-prelude.sh
timeout 100 node .bench-build/bench/attention-waves.js --S 4608,1536 --heads 1,2,4,6,8,11,12,16,20,22,24,26,28,33,36,44,48 --out "$R/waves" > "$R/waves.console" 2>&1
echo "waves rc=$? at $(el) s" >> "$R/waves.console"
for mode in in-place separate unfused; do
  DIT_EXPERIMENT_RESIDUAL=$mode MODEL_S=80 MODEL_ARGS="--int8 --idle-wait 0.85 --reps 7" bench_model "model-$mode"
done
mkdir -p "$R/kernels"
for f in linear.proj linear.single_out linear.modulation; do
  node bin/dit.js bench kernels --suite flux --filter "$f" --emit-spec "$R/kernels/spec-$f.json" > /dev/null 2>&1
done
python3 - "$R/kernels" <<'PY'
import json, sys, glob
d = sys.argv[1]; cases = []
for f in sorted(glob.glob(d + '/spec-*.json')):
    s = json.load(open(f)); cases += s['cases'] if isinstance(s, dict) else s
base = json.load(open(sorted(glob.glob(d + '/spec-*.json'))[0]))
if isinstance(base, dict): base['cases'] = cases
else: base = cases
json.dump(base, open(d + '/spec.json', 'w'))
PY
timeout 60 python3 bench/reference/kernels_ref.py "$R/kernels/spec.json" "$R/kernels/torch-kernels.json" > "$R/torch.console" 2>&1
echo "torch rc=$? at $(el) s" >> "$R/torch.console"
REF=(); [ -f "$R/kernels/torch-kernels.json" ] && REF=(--reference "$R/kernels/torch-kernels.json")
for f in linear.proj linear.single_out linear.modulation; do
  timeout 60 node bin/dit.js bench kernels --suite flux --filter "$f" --reps 7 "${REF[@]}" --out "$R/kernels/$f" 2>&1 | grep -a -v -E 'deprecated|^Warning: maxDyn' >> "$R/kernels.console"
done
echo "kernels done at $(el) s" >> "$R/kernels.console"
echo "=== done ($(el) s)"
grep -a -E 'TFLOP|rc=' "$R/waves.console" | head -40
for mode in in-place separate unfused; do grep -a -E "ms/step|rc=" "$R/model-$mode.console"; done
tail -n 3 "$R/torch.console"; grep -a -E '\|' "$R/kernels.console" | head -20
tar -czf "$OUT/results.tgz" -C "$R" .
