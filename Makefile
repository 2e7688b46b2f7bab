# Shirube: two commands do all the set-up.
#   make run   the portal with demo data on http://127.0.0.1:8000 (web, Celery worker and beat)
#   make test  the whole test suite (installs what it needs: PostgreSQL, Redis, Chromium)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The demo's GitOps repository is a local one (var/demo-gitops.git), which production never allows.
RUN_ENV := DEBUG=true SHIRUBE_GIT_ALLOW_LOCAL=true PATH="$(CURDIR)/$(VENV)/bin:$$PATH"

.PHONY: setup run test test-fast lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: setup
	@mkdir -p var
	$(RUN_ENV) $(PY) manage.py migrate --no-input -v 0
	$(RUN_ENV) $(PY) manage.py load_content
	$(RUN_ENV) $(PY) manage.py seed_demo
	$(RUN_ENV) $(PY) manage.py add_cluster demo --kubeconfig var/demo-kubeconfig --context demo --stage staging
	$(RUN_ENV) $(PY) manage.py seed_demo_environments
	@echo "Shirube on http://127.0.0.1:8000  (Ctrl-C stops web, worker, beat and the demo cluster)"
	$(RUN_ENV) exec $(VENV)/bin/honcho -f Procfile.dev start

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

clean:
	rm -rf var .pytest_cache
