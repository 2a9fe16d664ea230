# The two commands a newcomer needs: `make demo` and `make test`.
# Both build .venv on first use (and again when pyproject.toml changed). `make demo` installs
# the project alone — wheels only, no C compiler, no PC/SC; `make test` first installs the
# system packages the suite needs (scripts/system-deps: it installs them when it can, or names
# the exact apt-get command), then the project with its `dev` and `card` extras, starts the
# services (scripts/services) and runs the lint and every test.
# Each install has its own stamp in .venv (.demo, .test): make redoes one only when
# pyproject.toml is newer than its stamp.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint unit services system-deps bench clean

system-deps:
	@PY=$(PY) scripts/system-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test: pyproject.toml | system-deps $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,card]'
	touch $@

demo: $(VENV)/.demo
	$(BIN)/renkei demo

services: system-deps
	scripts/services

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# every test but the card tests on two workers (pytest-xdist, a file each: a module's deployment
# is built once), then the card tests (marker pcsc) one at a time: they share the vpcd reader
test: $(VENV)/.test services lint
	$(BIN)/pytest -q -n 2 --dist loadfile -m "not pcsc" --durations=25
	$(BIN)/pytest -q -m pcsc

bench: $(VENV)/.test services
	$(BIN)/python bench/query_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
