# The two commands of the README: `make serve` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv system-deps models serve test lint bench compose-config clean

help:
	@echo "make serve   - set up everything, export the models if missing, run Triton + gateway (embedded)"
	@echo "make test    - set up everything and run the test suite against a real embedded stack"
	@echo "make lint    - ruff format --check, ruff check, mypy on the packages (pyproject.toml: export, serving, gateway, client, bench)"
	@echo "make bench   - benchmark the running stack (starts one if none is running)"
	@echo "make models  - export the default model into model_repository/ if missing"

# The tested environment is the locked one (gateway/requirements.lock as constraints; pip takes no extras there):
# the gateway image installs that lock, and a package released since it was written cannot reach the tests.
$(STAMP): requirements.txt requirements-dev.txt gateway/requirements.txt gateway/requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	sed -E 's/\[[^]]*\]//' gateway/requirements.lock > $(VENV)/constraints.txt
	$(PY) -m pip install -r requirements-dev.txt -c $(VENV)/constraints.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

models: venv
	$(PY) -m export --if-missing --fallback-random

serve: venv
	$(PY) -m serving

# Debian packages the tests use: headless Chromium + driver (web page test), docker-compose (validates
# docker-compose.yml), prometheus + promtool (monitoring/ config and dashboard queries). Installed only when
# missing; needs root, as on CI.
SYSTEM_TOOLS := chromium chromedriver docker-compose prometheus promtool
system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver docker-compose prometheus >/dev/null; \
	fi

# checkov (tests/deploy/test_checkov.py) needs packaging<24, pytest 9 needs >=24: its own environment.
CHECKOV := $(VENV)/checkov/bin/checkov
$(CHECKOV): deploy/checkov-requirements.txt
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install -q -r deploy/checkov-requirements.txt
	touch $@

test: venv system-deps $(CHECKOV)
	$(PY) -m pytest

# ruff (the formatter; pyflakes, import order, bugbear, unused arguments, pycodestyle, pyupgrade, simplify, ruff's
# own rules, blind except) and mypy, configured in pyproject.toml.
lint: venv
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: venv
	$(PY) -m bench

compose-config: system-deps
	docker-compose -f docker-compose.yml config -q
	docker-compose -f docker-compose.yml -f docker-compose.gpu.yml config -q

clean:
	rm -rf .run artifacts model_repository/*/[0-9]* model_repository/*/manifest.json
