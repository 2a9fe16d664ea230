# The two commands a newcomer needs: `make demo` and `make test`.
# Both build .venv from scratch when it is missing or pyproject.toml changed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint unit services bench clean

$(BIN)/renkei: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/renkei
	$(BIN)/renkei demo

services:
	scripts/services

lint: $(BIN)/renkei
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(BIN)/renkei services lint
	$(BIN)/pytest -q

bench: $(BIN)/renkei services
	$(BIN)/python bench/query_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
