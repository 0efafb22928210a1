#!/usr/bin/env bash
# Run before the tests and the main job: makes sure Dawn finds a usable Vulkan adapter. It ASKS DAWN
# (scripts/vulkan-probe.mjs) rather than looking for driver files, so a GPU driver, an already installed
# lavapipe, root or not, all count. Only when Dawn sees no adapter does it install Mesa's CPU driver
# (lavapipe), which needs root or passwordless sudo; otherwise it prints the one command to run and exits 1.
#   DIT_VULKAN_DRY_RUN=1  decide and say what would be done, install nothing (tests use it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

probe() { node "$here/vulkan-probe.mjs" 2>/dev/null; }

set +e
found=$(probe); rc=$?
set -e
if [ $rc = 0 ]; then
  [ -n "${DIT_DEBUG:-}" ] && echo "ensure-vulkan: $found"
  exit 0
fi
if [ $rc = 4 ]; then
  echo "ensure-vulkan: cannot ask Dawn for an adapter because node_modules is missing. Run: npm ci" >&2
  exit 1
fi

if [ "$(id -u)" = 0 ]; then how=root
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then how=sudo
else how=none
fi
if [ -n "${DIT_VULKAN_DRY_RUN:-}" ]; then
  echo "ensure-vulkan: Dawn sees no usable Vulkan adapter ($found); would $([ $how = none ] && echo 'ask the user to run: sudo bash scripts/install-lavapipe.sh' || echo "install lavapipe as $how")"
  [ $how = none ] && exit 1 || exit 0
fi
if [ $how = none ]; then
  echo "No usable Vulkan adapter: Dawn found none ($found), and installing Mesa's CPU driver needs root." >&2
  echo "Run: sudo bash scripts/install-lavapipe.sh   (or install your GPU's Vulkan driver), then run this command again." >&2
  exit 1
fi
bash "$here/install-lavapipe.sh"
set +e
found=$(probe); rc=$?
set -e
if [ $rc != 0 ]; then
  echo "ensure-vulkan: lavapipe is installed but Dawn still sees no usable adapter ($found)." >&2
  echo "Check 'node bin/dit.js doctor' and VK_DRIVER_FILES / VK_ICD_FILENAMES in your environment." >&2
  exit 1
fi
