# QR Payments: `make run` and `make test` work on a fresh machine with only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
PORT ?= 8000
PSP_SIM_PORT ?= 8100
PSP_SIM_URL ?= http://127.0.0.1:$(PSP_SIM_PORT)
# honcho gives each Procfile process a PORT of its own (the base, +100, +200, …); WEB_PORT is
# where the web process listens, for the processes that must reach it (the simulator's webhooks,
# the URLs workers build).
WEB_PORT := $(PORT)
export PORT WEB_PORT PSP_SIM_PORT PSP_SIM_URL

.PHONY: run test lint format install install-dev bench migrate seed browser clean-local

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "uv==0.13.9"

# The lock files pin every package; a fresh install gets exactly what CI tested.
$(VENV)/.installed: $(BIN)/python requirements/base.lock
	$(UV) pip sync --quiet --python $(BIN)/python requirements/base.lock
	touch $@

$(VENV)/.installed-dev: $(BIN)/python requirements/dev.lock
	$(UV) pip sync --quiet --python $(BIN)/python requirements/dev.lock
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable

seed: migrate
	$(BIN)/python manage.py seed_demo

run: install
	@rm -rf .local/prometheus && mkdir -p .local/prometheus
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  API docs:   http://127.0.0.1:$(PORT)/api/docs/"
	@echo "  Admin:      http://127.0.0.1:$(PORT)/admin/"
	@echo "  Checkout:   http://127.0.0.1:$(PORT)/demo/checkout"
	@echo "  Simulator:  $(PSP_SIM_URL)/_control/health"
	@echo "  Ctrl-C stops everything; run again to reuse the data."
	@echo ""
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/.local/prometheus PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho start -f Procfile

# Browser tests drive Debian's Chromium; install it when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| { echo "could not install chromium (apt-get install -y chromium)"; exit 1; }; }

test: install-dev browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_ENV=test $(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_ENV=test $(BIN)/pytest -q $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install-dev
	$(UV) pip install --quiet --python $(BIN)/python -r requirements/bench.lock
	@echo "see bench/README.md for each benchmark's command"

# Regenerate the lock files after changing pyproject.toml.
lock: $(BIN)/python
	$(UV) pip compile --quiet pyproject.toml -o requirements/base.lock --python-version 3.11
	$(UV) pip compile --quiet pyproject.toml --extra dev -o requirements/dev.lock --python-version 3.11
	$(UV) pip compile --quiet pyproject.toml --extra dev --extra bench -o requirements/bench.lock --python-version 3.11

clean-local:
	rm -rf .local
