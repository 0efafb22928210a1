#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing (npm packages, the compiled CLI, and Mesa's CPU
# Vulkan driver when Dawn finds no adapter) and runs it. Until `dit generate` lands (text encoders + VAE +
# sampler issue), the main job reports the device and runs the quick kernel benchmark on it.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/ensure-vulkan.sh
# Rebuild when any source is newer than the build (bin/dit.js refuses a stale dist/).
if [ ! -f dist/cli/main.js ] || [ -n "$(find src -name '*.ts' -newer dist/cli/main.js -print -quit)" ]; then npm run build --silent; fi
node bin/dit.js doctor
node bin/dit.js bench kernels --suite quick --out bench/results/quick
