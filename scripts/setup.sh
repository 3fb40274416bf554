#!/usr/bin/env bash
# Create .venv with Python 3.10 (needed by Rasa 3.6) and install the pinned
# dependencies.  Idempotent: does nothing when .venv is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  if [ -n "${PYTHON310:-}" ]; then echo "$PYTHON310"; return; fi
  if command -v pyenv >/dev/null 2>&1; then
    local p
    p=$(ls -d "$(pyenv root)"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$p" ]; then echo "$p"; return; fi
  fi
  if command -v python3.10 >/dev/null 2>&1; then command -v python3.10; return; fi
  echo "error: Python 3.10 not found (Rasa 3.6 needs it). Install it (e.g. 'pyenv install 3.10') or set PYTHON310=/path/to/python3.10" >&2
  exit 1
}

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  py=$(find_python)
  echo "creating .venv with $py"
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet --no-deps -r requirements.lock
.venv/bin/python -m pip check >/dev/null || .venv/bin/python -m pip check
echo "$want" > "$stamp"
