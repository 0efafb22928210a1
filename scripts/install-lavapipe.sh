#!/usr/bin/env bash
# Installs Mesa's lavapipe (CPU Vulkan) so Dawn has an adapter on a machine without a GPU. Dawn needs a recent
# Mesa (22.3 is rejected: "shaderUniform*ArrayDynamicIndexing required"; 25.0 works, see GPU-NOTES.md):
#   Debian 12 (bookworm): mesa-vulkan-drivers from bookworm-backports (Mesa 25)
#   Debian 13+ (trixie and later), Ubuntu 24.04+: the distribution's own mesa-vulkan-drivers
# Other systems: install Mesa >= 24 with its Vulkan drivers by hand. Needs root (or sudo) for apt-get.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
[ -r /etc/os-release ] && . /etc/os-release
id=${ID:-unknown}; ver=${VERSION_ID:-0}; codename=${VERSION_CODENAME:-}
major=${ver%%.*}
apt_install() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" mesa-vulkan-drivers >/dev/null; }
case "$id" in
  debian)
    if [ "$codename" = bookworm ] || [ "$major" = 12 ]; then
      if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
        $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
      fi
      $SUDO apt-get update -qq
      apt_install -t bookworm-backports
    elif [ "${major:-0}" -ge 13 ] 2>/dev/null || [ "$codename" = trixie ] || [ "$codename" = forky ] || [ "$codename" = sid ]; then
      $SUDO apt-get update -qq
      apt_install
    else
      echo "install-lavapipe: Debian $ver is too old (its Mesa cannot run Dawn). Use Debian 12 or newer." >&2; exit 1
    fi ;;
  ubuntu)
    if [ "${major:-0}" -ge 24 ] 2>/dev/null; then
      $SUDO apt-get update -qq
      apt_install
    else
      echo "install-lavapipe: Ubuntu $ver ships a Mesa too old for Dawn; Ubuntu 24.04 or newer works." >&2; exit 1
    fi ;;
  *)
    echo "install-lavapipe: unsupported system '$id'. Install Mesa >= 24 with its Vulkan drivers (lavapipe), or a GPU Vulkan driver." >&2
    exit 1 ;;
esac
echo "lavapipe: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null)"
