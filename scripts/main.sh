#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing (CPU Vulkan driver when there is no GPU driver,
# npm packages, the compiled CLI) and runs it. Until `dit generate` lands (text encoders + VAE + sampler issue),
# the main job reports the device and runs the quick kernel benchmark on it.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
bash scripts/ensure-vulkan.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/cli/main.js ] || npm run build
node bin/dit.js doctor
node bin/dit.js bench kernels --suite quick --out bench/results/quick
