#!/usr/bin/env bash
# Create .venv-bench with the load and profiling tools (locust, py-spy,
# pyinstrument).  They live apart from .venv because locust's pins (Flask 3,
# gevent) do not fit Rasa 3.6's.  Any Python >= 3.10 will do; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv-bench/.requirements.sha256
want=$(sha256sum bench/requirements.lock | cut -d' ' -f1)
if [ -x .venv-bench/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
py=${BENCH_PYTHON:-$(command -v python3)}
[ -x .venv-bench/bin/python ] || "$py" -m venv .venv-bench
.venv-bench/bin/python -m pip install --quiet --upgrade pip
.venv-bench/bin/python -m pip install --quiet --no-deps -r bench/requirements.lock
.venv-bench/bin/python -m pip check >/dev/null || .venv-bench/bin/python -m pip check
echo "$want" > "$stamp"
