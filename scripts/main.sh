#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing (npm packages, the compiled CLI, and Mesa's CPU
# Vulkan driver when Dawn finds no adapter), then draws a picture from a prompt with the bundled small model
# (weights/small-flux, a FLUX-style pipeline trained on coloured shapes; bench/train-small/README.md) and writes
# it to dit-out/main.png (git-ignored), with the prompt, seed and settings in its PNG text metadata.
#   bash scripts/main.sh ["prompt"]        (default: "a red circle on a blue background, top left")
# Extra `dit generate` flags can go in DIT_ARGS, e.g. DIT_ARGS="--seed 3 -o shapes.png" (later flags win).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/ensure-vulkan.sh
# Rebuild when any source is newer than the build (bin/dit.js refuses a stale dist/).
if [ ! -f dist/cli/main.js ] || [ -n "$(find src -name '*.ts' -newer dist/cli/main.js -print -quit)" ]; then npm run build --silent; fi
PROMPT=${1:-"a red circle on a blue background, top left"}
if [ -f weights/small-flux/model_index.json ]; then
  # Size, steps, guidance and T5 tokens come from weights/small-flux/tetriserve.json: 128x128 and 32 T5 tokens as
  # trained, 10 steps (as accurate as 20 on the held-out prompts, half the time: test/pipeline/meaning.test.ts).
  # shellcheck disable=SC2086
  # (Dawn's native "...artificially reduced..." adapter lines are captured by the engine: src/gpu/native-output.ts.)
  node bin/dit.js generate "$PROMPT" --model weights/small-flux --seed 0 -o dit-out/main.png ${DIT_ARGS:-}
else
  echo "weights/small-flux is not in this checkout: reporting the device and running the quick kernel benchmark instead" >&2
  node bin/dit.js doctor
  node bin/dit.js bench kernels --suite quick --out bench/results/quick
fi
