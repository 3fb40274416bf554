#!/usr/bin/env bash
# Start the action server (background) and the Rasa server (foreground).
# Closed by default (docs/security.md): every server listens on 127.0.0.1;
# Rasa serves only the channels (REST, LINE, socket.io), its HTTP API only
# with RASA_API_TOKEN set, CORS and socket.io only for WIDGET_ORIGINS
# (bot/rasa_run.py).
set -euo pipefail
cd "$(dirname "$0")/.."
RASA_PORT=${RASA_PORT:-5005}
export ACTION_ENDPOINT_URL=${ACTION_ENDPOINT_URL:-http://127.0.0.1:${ACTIONS_PORT:-5055}/webhook}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
WEB_PORT=${WEB_PORT:-8080}
# the pages that may open the widget's socket (and get CORS): by default the demo page's own origin
export WIDGET_ORIGINS=${WIDGET_ORIGINS:-http://localhost:$WEB_PORT,http://127.0.0.1:$WEB_PORT}
# rasa_sdk reads its interface from SANIC_HOST (it has no option for it; its default is 0.0.0.0)
SANIC_HOST=${ACTIONS_INTERFACE:-127.0.0.1} .venv/bin/rasa run actions --actions bot.actions --port "$ACTIONS_PORT" &
actions=$!
.venv/bin/python -m bot.web --port "$WEB_PORT" --kb knowledge/kb.sqlite &
web=$!
trap 'kill $actions $web 2>/dev/null || true' EXIT INT TERM
cat <<TXT

kuyakusho-bot is starting (the Rasa server takes ~30 s to load the model).
  REST:    curl -s localhost:$RASA_PORT/webhooks/rest/webhook -H 'Content-Type: application/json' \\
             -d '{"sender":"me","message":"住民票はどこで取れますか"}'
  Actions: http://localhost:$ACTIONS_PORT/health
  Widget:  http://localhost:$WEB_PORT/        (chat widget demo; Rasa socket.io on port $RASA_PORT)
  Staff:   http://localhost:$WEB_PORT/staff
Rasa's HTTP API is $([ -n "${RASA_API_TOKEN:-}" ] && echo "on (?token=\$RASA_API_TOKEN)" || echo "off (set RASA_API_TOKEN to turn it on)").
Stop with Ctrl-C.

TXT
.venv/bin/python -m bot.rasa_run --port "$RASA_PORT" --model models/kuyakusho.tar.gz \
  --endpoints endpoints.yml --credentials credentials.yml
