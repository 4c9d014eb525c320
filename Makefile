# The two commands of the README: `make serve` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv models serve test bench compose-config clean

help:
	@echo "make serve   - set up everything, export the models if missing, run Triton + gateway (embedded)"
	@echo "make test    - set up everything and run the test suite against a real embedded stack"
	@echo "make bench   - benchmark the running stack (starts one if none is running)"
	@echo "make models  - export the default model into model_repository/ if missing"

$(STAMP): requirements.txt gateway/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -r requirements.txt
	touch $@

venv: $(STAMP)

models: venv
	$(PY) -m export --if-missing --fallback-random

serve: models
	$(PY) -m serving

test: venv
	$(PY) -m pytest

bench: venv
	$(PY) -m bench

clean:
	rm -rf .run artifacts model_repository/*/[0-9]* model_repository/*/manifest.json
