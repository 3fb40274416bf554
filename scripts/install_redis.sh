#!/usr/bin/env bash
# Install Debian's redis-server when it is missing (needs root or sudo).
# Exits non-zero when it cannot; callers decide what to do without Redis.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"
echo "installing redis-server (Debian package)"
$SUDO apt-get update -qq
# Debian's postinst does not start the service where policy-rc.d forbids it
# (containers); we never use it: make run and make scaleout start their own.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
