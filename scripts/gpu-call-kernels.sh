#!/usr/bin/env bash
# One nvidia-h200 call (fourth session, 2026-11-30, ~3 minutes): `dit bench kernels --suite full` (FLUX at
# 512/1024/2048, SD3, VAE cases) with the adopted tables, beside PyTorch (bench/reference/kernels_ref.py, same
# shapes, same GPU, same command), for bench/RESULTS.md's ratio column.
# Carry: .gpu (any profile with sharp), dist. Results in $OUT/results.tgz.
source scripts/lib/gpu-call-prelude.sh
mkdir -p "$R/kernels"
node bin/dit.js bench kernels --suite full --emit-spec "$R/kernels/spec.json" > "$R/spec.console" 2>&1
timeout 100 python3 bench/reference/kernels_ref.py "$R/kernels/spec.json" "$R/kernels/torch-kernels.json" > "$R/torch.console" 2>&1
echo "torch rc=$?" >> "$R/torch.console"
REF=(); [ -f "$R/kernels/torch-kernels.json" ] && REF=(--reference "$R/kernels/torch-kernels.json")
timeout 150 node bin/dit.js bench kernels --suite full --reps 5 "${REF[@]}" --out "$R/kernels" 2>&1 | grep -a -v -E 'deprecated|^Warning: maxDyn' > "$R/kernels.console"
echo "kernels rc=${PIPESTATUS[0]}" >> "$R/kernels.console"
tail -n 3 "$R/torch.console" "$R/kernels.console"
tar -czf "$OUT/results.tgz" -C "$R" .
