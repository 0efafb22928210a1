#!/usr/bin/env bash
# Installs Mesa's lavapipe (CPU Vulkan) from bookworm-backports when no Vulkan driver is present.
# Debian bookworm's own Mesa 22.3 is too old for Dawn ("shaderUniform*ArrayDynamicIndexing required");
# Mesa 25 from bookworm-backports works (see GPU-NOTES.md). Needs root (apt-get).
set -euo pipefail
if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && dpkg -s mesa-vulkan-drivers 2>/dev/null | grep -q '^Version: 25'; then
  echo "lavapipe: already installed"; exit 0
fi
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
if ! grep -rqs bookworm-backports /etc/apt/sources.list.d/; then
  $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
echo "lavapipe: installed $(dpkg -s mesa-vulkan-drivers | grep ^Version)"
