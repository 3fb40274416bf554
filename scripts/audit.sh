#!/usr/bin/env bash
# `make audit`: pip-audit over requirements.lock (every pinned package, no
# resolution, nothing installed) against the OSV vulnerability database.
# pip-audit lives in .venv-audit (scripts/audit-requirements.lock; any
# Python >= 3.9).  Where OSV cannot be reached (the build machines have no
# route to it) this prints one line saying so and exits 0; where it can, it
# prints the findings and exits 1 when there are any.  docs/security.md lists
# the known advisories of the pins and why each remaining one is accepted.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv-audit/.requirements.sha256
want=$(sha256sum scripts/audit-requirements.lock | cut -d' ' -f1)
if ! { [ -x .venv-audit/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
  py=${AUDIT_PYTHON:-$(command -v python3)}
  [ -x .venv-audit/bin/python ] || "$py" -m venv .venv-audit
  .venv-audit/bin/python -m pip install --quiet --upgrade pip
  .venv-audit/bin/python -m pip install --quiet --no-deps -r scripts/audit-requirements.lock
  .venv-audit/bin/python -m pip check >/dev/null || .venv-audit/bin/python -m pip check
  echo "$want" > "$stamp"
fi
host=api.osv.dev
if ! .venv-audit/bin/python -c 'import socket, sys; socket.create_connection((sys.argv[1], 443), timeout=10).close()' \
     "$host" 2>/dev/null; then
  echo "make audit: the vulnerability database ($host) cannot be reached from here; nothing was checked (docs/security.md lists the known advisories)"
  exit 0
fi
exec .venv-audit/bin/pip-audit --requirement requirements.lock --no-deps --disable-pip \
  --vulnerability-service osv --progress-spinner off --desc on
