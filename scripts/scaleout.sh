#!/usr/bin/env bash
# The scale-out stack on loopback (docs/deployment.md): Redis lock store,
# PostgreSQL tracker store, two Rasa servers, one action server, in the
# foreground until Ctrl-C.  Installs Debian's redis-server (and postgresql
# when no PostgreSQL server is found) first; needs root or sudo for that.
#
#   scripts/scaleout.sh                  # start (arguments go to python -m bot.scaleout)
#   scripts/scaleout.sh --install-only   # only install what is missing
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ -z "${PG_BIN:-}" ] && ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null \
   && ! command -v postgres >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  echo "installing ${missing[*]} (Debian packages)"
  $SUDO apt-get update -qq
  # Debian's postinst does not start the services where policy-rc.d forbids it
  # (containers); the stack never uses them: it starts its own on other ports.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ "${1:-}" = "--install-only" ] && exit 0

export RASA_TELEMETRY_ENABLED=false PYTHONPATH="$PWD" SQLALCHEMY_SILENCE_UBER_WARNING=1
exec .venv/bin/python -m bot.scaleout "$@"
