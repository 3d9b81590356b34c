# 苏州制造 registry — developer and CI entry points.
#   make run    run the project on the embedded demo registry
#   make test   install everything needed (venv, pip, Debian chromium + fonts, npm) and run the tests
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.szzz-installed
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k verifier -x"`.
PYTEST_ARGS ?=
# pytest-xdist: one worker per core; whole files stay on one worker so heavy
# module/session fixtures (demo registry, built site, browser) are built once per worker.
PYTEST_WORKERS ?= 2

DEMO_DB   := demo/registry.db
DEMO_KEYS := demo/keys

.PHONY: help venv system-deps lint test run clean distclean

help:
	@echo "make run          run the project on the embedded demo registry"
	@echo "make test         install everything needed and run the tests"
	@echo "make lint         ruff, mypy and the import contracts (part of make test)"
	@echo "make venv         create .venv and pip install -e '.[test]'"
	@echo "make system-deps  Debian chromium + fonts, npm ci (only what is missing)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VPY) || { \
	  $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")' && \
	  $(PYTHON) -m venv $(VENV); }
	$(VPY) -m pip install --disable-pip-version-check -q -e '.[test]'
	@touch $@

system-deps:
	@scripts/install-system-deps.sh

# Static checks first: style and bugs (ruff), types (mypy: strict for core,
# log and verify), the layers' import contracts (import-linter).
lint: venv
	$(VENV)/bin/ruff check .
	$(VPY) -m mypy
	$(VENV)/bin/lint-imports

test: venv system-deps lint
	$(VPY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# publish.py serve: creates demo/ on first run, builds output/ and serves the
# site on 127.0.0.1:8000 and Datasette on 127.0.0.1:8001 (Ctrl-C stops both).
run: venv system-deps
	$(VPY) publish.py serve

clean:
	rm -rf output .output.build-* .output.cache .output.lock .pytest_cache/ .hypothesis/

distclean: clean
	rm -rf $(VENV) node_modules/
