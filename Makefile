# Shirube: two commands do all the set-up.
#   make run   the portal with demo data on http://127.0.0.1:8000 (web, Celery worker and beat,
#              Redis and the demo cluster, supervised); DEBUG=true for Django's debug pages, PORT=8001
#   make test  the whole test suite (installs what it needs: PostgreSQL, Redis, Chromium)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEBUG ?= false
PORT ?= 8000

.PHONY: setup run test test-fast lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || { echo "Creating .venv"; $(PYTHON) -m venv $(VENV); }
	@echo "Installing the pinned Python packages into .venv (about a minute the first time)"
	@$(PY) scripts/pip_install.py requirements-dev.txt
	@touch $@

# The demo needs a Redis server (the Celery broker) and git; scripts/run_demo.py does the rest.
run: setup
	@bash scripts/install-system-deps.sh redis-server git
	@DEBUG=$(DEBUG) PORT=$(PORT) $(PY) scripts/run_demo.py

test: setup
	@bash scripts/install-system-deps.sh
	@bash scripts/build-kube-servers.sh || { \
	  if [ "$$CI" = "true" ]; then echo "CI: the real kube-apiserver must build" >&2; exit 1; fi; \
	  echo "warning: no real kube-apiserver; the tests that need it will be skipped (see docs/kube-apiserver.md)"; }
	@bash scripts/fetch-keycloak.sh || { \
	  if [ "$$CI" = "true" ]; then echo "CI: Keycloak must be fetched for the sign-in tests" >&2; exit 1; fi; \
	  echo "warning: no Keycloak; the sign-in tests that need it will be skipped (see docs/sso.md)"; }
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest $(PYTEST_ARGS)

# The inner loop: everything but the browser and real kube-apiserver tests (CI runs `make test`).
test-fast: setup
	@bash scripts/install-system-deps.sh
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest -m "not browser and not realkube" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo

bench: setup
	@bash scripts/install-system-deps.sh
	$(PY) bench/learn_pages.py
	$(PY) bench/cluster_sync.py
	$(PY) bench/readiness.py
	$(PY) bench/deploy.py
	$(PY) bench/notifications.py

clean:
	rm -rf var .pytest_cache
