#!/usr/bin/env bash
# The Vulkan driver the `device: wgpu` tests run on without a GPU: Mesa's
# software driver (lavapipe, Debian's mesa-vulkan-drivers) and the Vulkan
# loader (libvulkan1), installed with apt-get (as root, or through sudo)
# when missing. Prints the driver's manifest.
#
#   bash scripts/vulkan-for-tests.sh
set -euo pipefail

icd() { ls /usr/share/vulkan/icd.d/lvp_icd.*.json 2>/dev/null | head -n 1; }

if [ -z "$(icd)" ] || ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing Mesa's software Vulkan driver (mesa-vulkan-drivers, libvulkan1) for the wgpu tests" >&2
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q mesa-vulkan-drivers libvulkan1 >&2
fi
[ -n "$(icd)" ] || { echo "no lavapipe manifest in /usr/share/vulkan/icd.d after installing mesa-vulkan-drivers" >&2; exit 1; }
icd
