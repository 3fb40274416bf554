#!/usr/bin/env bash
# Debian's nginx (the light build: proxy, TLS, WebSocket) for the reverse-proxy
# layout of deploy/nginx.conf and its test (tests/test_closed_server.py), and
# openssl for the test's self-signed certificate.  Installs only; never starts
# or enables the system's nginx service.  Needs root or sudo.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  command -v openssl >/dev/null 2>&1 && exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"
$SUDO apt-get update -qq
# Debian's postinst does not start the service where policy-rc.d forbids it (containers);
# elsewhere it starts nginx on port 80 with Debian's default site, which the tests never use.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light openssl >/dev/null
