#!/usr/bin/env bash
# Debian's Chromium and CJK fonts for the browser tests (Playwright drives
# /usr/bin/chromium; no browser is downloaded).  Needs root or sudo.
set -euo pipefail
if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
