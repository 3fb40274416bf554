# kuyakusho-bot: two commands on a fresh machine -- `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONPATH := $(CURDIR)
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# the action server must not drop Rasa's idle keep-alive connections under load
export SANIC_KEEP_ALIVE_TIMEOUT ?= 120
PY := .venv/bin/python
RASA := .venv/bin/rasa
RASA_PORT ?= 5005
ACTIONS_PORT ?= 5055
WEB_PORT ?= 8080
# regression floor for `make nlu-test`; the measured figure is printed (0.90+ at the time of writing)
NLU_MIN_MACRO_F1 ?= 0.85
export ACTION_ENDPOINT_URL ?= http://127.0.0.1:$(ACTIONS_PORT)/webhook
# rasa_sdk's interface (it has no option for it; its own default is 0.0.0.0)
ACTIONS_INTERFACE ?= 127.0.0.1

.PHONY: help setup browser proxy-deps redis kb train run actions staff insights shell lint test unit nlu-test core-test eval bench-venv bench-staff clean audit

help:
	@echo "make run    build the knowledge base, train if the data changed, start the servers"
	@echo "make test   run every test (unit, integration, NLU and story tests)"
	@echo "make shell  chat in the terminal      make eval  score the dev sets (../shared/eval) over REST"
	@echo "make staff  the staff quick reference at http://localhost:8080/staff"

setup:
	@scripts/setup.sh

browser:
	@scripts/install_browser.sh

# nginx for the reverse-proxy layout (deploy/nginx.conf) and its test
proxy-deps:
	@scripts/install_proxy.sh

# Debian's redis-server: make run's lock store for one Sanic worker per core, and tests/test_workers.py
redis:
	@scripts/install_redis.sh

kb: setup
	$(PY) -m knowledge build
	$(PY) -m knowledge export

# `rasa train` itself skips training when the data, config and domain are unchanged.
train: kb
	$(RASA) train --config config.yml --domain domain.yml --data bot/data --out models --fixed-model-name kuyakusho

actions: kb
	SANIC_HOST=$(ACTIONS_INTERFACE) $(RASA) run actions --actions bot.actions --port $(ACTIONS_PORT)

staff: kb
	$(PY) -m bot.web --port 8080 --kb knowledge/kb.sqlite

# staff insights in the terminal: make insights INSIGHTS_ARGS="--since 2026-11-01 --period week --csv results/insights"
insights:
	$(PY) -m bot.insights $(INSIGHTS_ARGS)

run: train
	@scripts/run.sh

shell: train
	@SANIC_HOST=$(ACTIONS_INTERFACE) $(RASA) run actions --actions bot.actions --port $(ACTIONS_PORT) >/tmp/kuyakusho-actions.log 2>&1 & \
	  pid=$$!; trap "kill $$pid" EXIT; sleep 5; \
	  $(RASA) shell -i 127.0.0.1 --model models/kuyakusho.tar.gz --endpoints endpoints.yml

unit: kb
	$(PY) -m pytest -q -m "not integration"

nlu-test: train
	$(RASA) test nlu --nlu tests/nlu/test_nlu.yml --model models/kuyakusho.tar.gz --out results/nlu
	$(PY) scripts/nlu_report.py results/nlu/intent_report.json --min-macro-f1 $(NLU_MIN_MACRO_F1)

core-test: train
	$(RASA) test core --stories tests/stories --model models/kuyakusho.tar.gz --out results/core --fail-on-prediction-errors

# static checks (pyproject.toml: pycodestyle, pyflakes, bugbear, pyupgrade, imports, security rules)
lint: setup
	.venv/bin/ruff check .

test: lint train browser proxy-deps redis
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory nlu-test core-test

# the answerability classifier on its held-out questions, then both dev sets over REST
eval: train
	$(PY) -m knowledge train --report-only
	$(PY) -m bot.evaluate ../shared/eval/public.yml ../shared/eval/public2.yml

# locust, py-spy and pyinstrument, in their own venv (their pins clash with Rasa's)
bench-venv:
	@scripts/setup_bench.sh

bench-staff: kb
	$(PY) bench/staff_search.py

# accuracy and speed against two baselines, side by side -> docs/benchmarks.md, results/bench/*.json.
# Starts its own servers on ports 7005-7057 (this project, today's configuration, baseline 1). Quick runs: BENCH_TRAIN_TIME=0 BENCH_LOAD_SECONDS=20 (see bench/run.py)
.PHONY: bench
bench: train bench-venv
	$(PY) -m bench.run ../shared/eval/public.yml $(BENCH_EVAL)

# pip-audit (in .venv-audit) over requirements.lock against the OSV database; where it
# cannot be reached it says so in one line and exits 0 (docs/security.md)
audit:
	@scripts/audit.sh

clean:
	rm -rf models results knowledge/kb.sqlite .venv-bench .venv-audit

# ---- scale-out (docs/deployment.md): Redis lock store, PostgreSQL tracker store,
# two Rasa servers and one action server on loopback (bot/scaleout.py)
SCALEOUT_ARGS ?= --rasa-ports 6005,6006 --actions-ports 6055 --redis-port 6079 --pg-port 6032
# soak: SOAK_SECONDS at SOAK_USERS concurrent clients against the scale-out stack (bench/soak.py)
SOAK_SECONDS ?= 300
SOAK_USERS ?= 20

.PHONY: scaleout scaleout-deps scaleout-test soak

scaleout-deps:
	@scripts/scaleout.sh --install-only

scaleout: train scaleout-deps
	@scripts/scaleout.sh $(SCALEOUT_ARGS)

scaleout-test: train scaleout-deps
	SCALEOUT_TEST=1 $(PY) -m pytest -q -m scaleout tests/test_scaleout.py tests/test_shared_limits.py
	$(PY) -m pytest -q tests/test_redis_state.py
	@echo "load run: $$(cat results/scaleout-test/load.json | tr -d '\n')"

soak: train scaleout-deps bench-venv
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_USERS=$(SOAK_USERS) $(PY) bench/soak.py
