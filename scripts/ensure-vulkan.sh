#!/usr/bin/env bash
# Run before the tests: makes sure Dawn will find a Vulkan driver. A GPU driver counts; otherwise the CPU
# driver lavapipe is installed (needs root or sudo), or the exact command to run is printed.
set -euo pipefail
if ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/nvidia/share/vulkan/icd.d/*.json >/dev/null 2>&1 \
   && ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && ! dpkg -s mesa-vulkan-drivers 2>/dev/null | grep -q '^Version: 2[5-9]'; then
    : # an old lavapipe is present: fall through and upgrade it
  else
    exit 0
  fi
fi
here=$(dirname "$(readlink -f "$0")")
if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then
  exec bash "$here/install-lavapipe.sh"
fi
echo "No Vulkan driver found. Run: sudo bash scripts/install-lavapipe.sh   (installs Mesa lavapipe >= 25 from bookworm-backports)" >&2
exit 1
