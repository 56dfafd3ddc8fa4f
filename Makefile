# Blink: `make run` serves the site, `make test` runs the whole suite.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PANOPTES_VENV := .venv-panoptes
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
DEMO_DIR ?= var/demo_alerts
PYTEST_ARGS ?=

.PHONY: run test venv services chromium panoptes lint format bench fuzz clean-db help

help:
	@echo "make run    - install, migrate, make demo data and accounts, train a starter model, serve on http://$(HOST):$(PORT)"
	@echo "make test   - the whole test suite against PostgreSQL and Redis"
	@echo "make lint   - ruff check and ruff format --check"
	@echo "make bench  - run every benchmark under bench/ (prints JSON lines)"
	@echo "make fuzz   - deep fuzzing, 20 minutes or less: schemathesis on the API, 10,000+ hostile ingest files"

$(BIN)/.installed: requirements.txt
	@test -x $(BIN)/pip || $(PY) -m venv --clear $(VENV)
	@# --no-compile: byte-compiling every installed module (TensorFlow's thousands) took 45 s of a fresh install;
	@# Python compiles the ones it imports on first use.
	$(BIN)/pip install --quiet --no-compile --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(BIN)/.installed

# panoptes-aggregation pins numpy/scikit-learn versions Blink cannot share: it gets its own environment.
$(PANOPTES_VENV)/.installed:
	@test -x $(PANOPTES_VENV)/bin/pip || $(PY) -m venv --clear $(PANOPTES_VENV)
	$(PANOPTES_VENV)/bin/pip install --quiet --no-compile --disable-pip-version-check "panoptes-aggregation==5.3.1"
	@touch $@

panoptes: $(PANOPTES_VENV)/.installed

# Debian's chromium drives the browser tests (Playwright never downloads its own browser here).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; } \
	  || { echo "Could not install chromium: browser tests will be skipped."; }; \
	fi

# PostgreSQL and Redis are started if installed but stopped; make test fails clearly if PostgreSQL is unreachable.
services:
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  echo "Starting PostgreSQL..."; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true; \
	  for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi
	@if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then \
	  echo "Starting Redis..."; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true; \
	  for i in $$(seq 1 10); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done; \
	fi
	@$(BIN)/python -c "import psycopg,sys; psycopg.connect('$(TEST_DATABASE_URL)', connect_timeout=5).close()" 2>/dev/null \
	  || { echo "ERROR: PostgreSQL is not reachable at $(TEST_DATABASE_URL). Start it (pg_ctlcluster ... main start) and retry."; exit 1; }

# The three installs are independent and each mostly one process: side by side on a fresh clone they take the
# time of the longest. Services come after, since their check uses the venv's psycopg.
test:
	@$(MAKE) --no-print-directory -j3 venv panoptes chromium
	@$(MAKE) --no-print-directory services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) BLINK_PANOPTES_BIN=$(CURDIR)/$(PANOPTES_VENV)/bin \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

# make run serves the site as a volunteer meets it: DEBUG off (error pages in the site's frame, never Django's debug
# page listing every URL), with a random secret key made once and kept in var/ (sessions survive a restart).
# DJANGO_DEBUG=1 make run brings the debug pages back; a DJANGO_SECRET_KEY in the environment wins over the file.
SECRET_KEY_FILE := var/secret_key
RUN_ENV = DJANGO_DEBUG="$${DJANGO_DEBUG:-0}" DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat $(SECRET_KEY_FILE))}"

$(SECRET_KEY_FILE):
	@mkdir -p $(@D)
	@umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(64))" > $@

run: venv $(SECRET_KEY_FILE)
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(BIN)/python manage.py createcachetable
	$(RUN_ENV) $(BIN)/python manage.py setup_demo --alerts-dir $(DEMO_DIR)
	@echo ""
	@echo "Blink is starting on http://$(HOST):$(PORT)"
	@echo "Demo accounts (password blink-demo): volunteer, scientist, mllead, admin"
	@echo ""
	@trap 'kill 0' EXIT INT TERM; \
	  $(RUN_ENV) $(BIN)/python manage.py db_worker --queue-name '*' --no-reload & \
	  $(RUN_ENV) $(BIN)/daphne -b $(HOST) -p $(PORT) config.asgi:application

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Every benchmark script (bench/blinkbench.py and bench/simulated_volunteers.py are their helpers, not benchmarks).
BENCHES := ingest score evaluate campaign console active_learning classify_load load faults scale fuzz_api fuzz_ingest

bench: venv services
	@for b in $(BENCHES); do echo "# bench/$$b.py"; DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python bench/$$b.py || exit 1; done

# Outside make test: schemathesis with 100+ examples per operation and role plus its stateful mode, then 10,000+
# mutations of the real packets in ../shared/data (skipped, saying so, when it is absent). Both print JSON lines.
fuzz: venv services
	@status=0; \
	  DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python bench/fuzz_api.py || status=1; \
	  DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python bench/fuzz_ingest.py || status=1; \
	  exit $$status
