#!/usr/bin/env bash
# The browser the live page's tests drive: Debian's Chromium and its
# WebDriver server, installed with apt-get (as root, or through sudo) when
# missing. Prints the path of chromedriver.
#
#   bash scripts/browser-for-tests.sh
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing Debian's chromium and chromium-driver (for the browser tests of nas-search serve)" >&2
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver >&2
fi
command -v chromedriver
