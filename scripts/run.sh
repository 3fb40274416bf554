#!/usr/bin/env bash
# Start the action server, the web page and (when it can) Redis in the
# background, and the Rasa server in the foreground.
#
# Closed by default (docs/security.md): every server listens on 127.0.0.1;
# Rasa serves only the channels (REST, LINE, socket.io), its HTTP API only
# with RASA_API_TOKEN set, CORS and socket.io only for WIDGET_ORIGINS
# (bot/rasa_run.py).
#
# Both cores serve: the Rasa server runs one Sanic worker per core
# (SANIC_WORKERS overrides it).  Workers need a lock store they share, so that
# one conversation's turns run in order whichever worker takes them: Redis.
# When REDIS_URL is not set, this script starts a redis-server of its own that
# listens only on a Unix socket in results/run/PORT/ (mode 0700; nothing saved to
# disk), installing Debian's redis-server first when it is missing.  The same
# Redis holds the per-sender rate limit and LINE's redelivery memory, so they
# hold across workers.  When Redis cannot be had, the Rasa server runs one worker.
set -euo pipefail
cd "$(dirname "$0")/.."
RASA_PORT=${RASA_PORT:-5005}
export ACTION_ENDPOINT_URL=${ACTION_ENDPOINT_URL:-http://127.0.0.1:${ACTIONS_PORT:-5055}/webhook}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
WEB_PORT=${WEB_PORT:-8080}
# the pages that may open the widget's socket (and get CORS): by default the demo page's own origin
export WIDGET_ORIGINS=${WIDGET_ORIGINS:-http://localhost:$WEB_PORT,http://127.0.0.1:$WEB_PORT}
RUN_DIR=${RUN_DIR:-results/run/$RASA_PORT}  # one per Rasa port: several runs may share the checkout
workers=${SANIC_WORKERS:-$(nproc)}
children=()
trap 'for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done' EXIT INT TERM

start_redis() {  # a loopback-only redis-server on a Unix socket; sets REDIS_URL
  scripts/install_redis.sh || return 1
  mkdir -p "$RUN_DIR" && chmod 700 "$RUN_DIR"
  local sock="$PWD/$RUN_DIR/redis.sock"
  rm -f "$sock"
  redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save "" --appendonly no \
    --dir "$PWD/$RUN_DIR" --daemonize no --logfile "$PWD/$RUN_DIR/redis.log" &
  children+=($!)
  for _ in $(seq 50); do
    if [ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ]; then
      export REDIS_URL="unix://$sock?db=0"
      return 0
    fi
    kill -0 "${children[-1]}" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

if [ "$workers" -gt 1 ] && [ -z "${REDIS_URL:-}" ] && ! start_redis; then
  echo "Redis is not available (apt-get install redis-server): the Rasa server runs 1 worker instead of $workers."
  workers=1
fi
export SANIC_WORKERS=$workers

# rasa_sdk reads its interface from SANIC_HOST (it has no option for it; its default is 0.0.0.0)
SANIC_HOST=${ACTIONS_INTERFACE:-127.0.0.1} .venv/bin/rasa run actions --actions bot.actions --port "$ACTIONS_PORT" &
children+=($!)
.venv/bin/python -m bot.web --port "$WEB_PORT" --kb knowledge/kb.sqlite &
children+=($!)
cat <<TXT

kuyakusho-bot is starting (the Rasa server takes ~30 s to load the model).
  REST:    curl -s localhost:$RASA_PORT/webhooks/rest/webhook -H 'Content-Type: application/json' \\
             -d '{"sender":"me","message":"住民票はどこで取れますか"}'
  Actions: http://localhost:$ACTIONS_PORT/health
  Widget:  http://localhost:$WEB_PORT/        (chat widget demo; Rasa socket.io on port $RASA_PORT)
  Staff:   http://localhost:$WEB_PORT/staff
  Rasa server: $workers Sanic worker(s)${REDIS_URL:+, lock store, rate limit and LINE redelivery memory in Redis ($REDIS_URL)}
Rasa's HTTP API is $([ -n "${RASA_API_TOKEN:-}" ] && echo "on (?token=\$RASA_API_TOKEN)" || echo "off (set RASA_API_TOKEN to turn it on)").
Stop with Ctrl-C.

TXT
.venv/bin/python -m bot.rasa_run --port "$RASA_PORT" --model models/kuyakusho.tar.gz \
  --endpoints endpoints.yml --credentials credentials.yml
