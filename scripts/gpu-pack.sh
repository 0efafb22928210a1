#!/usr/bin/env bash
# Packs what the GPU machine needs into .gpu/ (git-ignored), smaller than ../shared/device/pack.sh's full pack so that
# it fits the device tool's 64 MiB travel limit beside the repository: node (xz), the Vulkan loader and libglvnd
# (debs), and node_modules without what no GPU run uses (other platforms' Dawn builds, the browser driver, the
# image library's native binaries, the dependency checker, the load generator). vitest stays (GPU test phases).
#   GPU_PACK_PROFILE=run bash scripts/gpu-pack.sh   # for runs without tests or tsc (carry a built dist/ instead):
#                                                   # drops typescript and the test runner, keeps sharp's binaries
#                                                   # so `dit generate` can write images
#   GPU_PACK_PROFILE=full                           # both: test runner, tsc and sharp (a few MB more)
#   GPU_PACK_PROFILE=tests-run                      # test runner and sharp, no tsc: carry dist/ and any bench build
#                                                   # (fits beside the repository with the big fixtures left behind)
set -euo pipefail
profile=${GPU_PACK_PROFILE:-test}
if [ "$profile" = run ]; then
  drop=(--exclude='node_modules/typescript' --exclude='node_modules/vitest' --exclude='node_modules/vite' \
        --exclude='node_modules/@rolldown' --exclude='node_modules/lightningcss*' --exclude='node_modules/@vitest' \
        --exclude='node_modules/@img/sharp-libvips-linuxmusl*' --exclude='node_modules/@img/sharp-linuxmusl*')
elif [ "$profile" = tests-run ]; then
  drop=(--exclude='node_modules/typescript' --exclude='node_modules/lightningcss*' --exclude='node_modules/@resvg' \
        --exclude='node_modules/@img/sharp-libvips-linuxmusl*' --exclude='node_modules/@img/sharp-linuxmusl*')
elif [ "$profile" = full ]; then
  drop=(--exclude='node_modules/@img/sharp-libvips-linuxmusl*' --exclude='node_modules/@img/sharp-linuxmusl*')
else
  drop=(--exclude='node_modules/@img')
fi
root=$(git rev-parse --show-toplevel)
cd "$root"
mkdir -p .gpu
bash ../shared/device/pack.sh >/dev/null 2>&1 || true   # node.xz, debs, env.sh (its full node_modules tar is replaced below)
tar -C "$root" \
  --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' --exclude='node_modules/webgpu/dist/linux-arm64' \
  --exclude='node_modules/.cache' --exclude='node_modules/playwright-core' "${drop[@]}" \
  --exclude='node_modules/dependency-cruiser' --exclude='node_modules/autocannon' --exclude='node_modules/@types' \
  --exclude='node_modules/@resvg/resvg-js-linux-x64-musl' \
  -cf - node_modules | xz -T2 -6 > .gpu/node_modules.tar.xz
du -sh .gpu .gpu/* | sed 's/^/gpu-pack: /'
