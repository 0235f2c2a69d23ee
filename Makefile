# The two commands a fresh Linux machine with Python 3.11 needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench bench-quick bench-tools autobahn clean services

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[standard]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

## make run: serve the demo app from examples/ on http://127.0.0.1:8000 (with /healthz, /readyz)
run: $(VENV)/.installed
	$(PY) -m pip install --quiet starlette
	$(VENV)/bin/asgiws demo_app:app --app-dir examples --host $(HOST) --port $(PORT)

## make test: dev dependencies, the real services the tests need, then pytest
test: $(VENV)/.dev-installed services
	$(PY) -m pytest

## services: install what the tests talk to when it is missing (Debian packages)
services:
	@bash scripts/ensure-services.sh

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check asgiws tests examples benchmarks
	$(VENV)/bin/ruff format --check asgiws tests
	$(VENV)/bin/mypy asgiws

$(VENV)/.bench-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

## make bench: every scenario of docs/benchmarks.md, asgiws beside its peers (wrk from apt)
bench: $(VENV)/.bench-installed bench-tools
	$(PY) benchmarks/run.py

bench-quick: $(VENV)/.bench-installed bench-tools
	$(PY) benchmarks/run.py --quick

bench-tools:
	@bash scripts/ensure-services.sh --bench

autobahn: $(VENV)/.dev-installed
	$(PY) -m pytest -m autobahn -v

## make autobahn-full: all 463 Autobahn cases, permessage-deflate included, against the native
## echo and the ASGI echo at once (~5 min each on a quiet machine; not part of `make test`)
.PHONY: autobahn-full
autobahn-full: $(VENV)/.dev-installed
	$(PY) -m pytest -m autobahn_full -v -s tests/test_autobahn_full.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
