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

.PHONY: help venv system-deps test run clean distclean

help:
	@echo "make run          run the project on the embedded demo registry"
	@echo "make test         install everything needed and run the tests"
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

test: venv system-deps
	$(VPY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

run: venv system-deps
	@test -f $(DEMO_DB) || $(VENV)/bin/szzz demo --db $(DEMO_DB) --keys $(DEMO_KEYS)
	$(VENV)/bin/szzz cert list --db $(DEMO_DB)

clean:
	rm -rf output/ .pytest_cache/ .hypothesis/

distclean: clean
	rm -rf $(VENV) node_modules/
