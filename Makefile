# The two commands a new user needs: `make run` and `make test`. Each sets up its own virtualenv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench bench-smoke clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Serve on http://127.0.0.1:8000 with SQLite under ./var/, polling the enabled sources.
run: $(STAMP)
	$(BIN)/fx-ticker serve

## Lint, then the whole test suite (SQLite always; PostgreSQL too when FX_TEST_POSTGRES_URL answers).
test: $(STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/python -m pytest

typecheck: $(STAMP)
	$(BIN)/mypy app

## The speed targets at full size (needs wrk and PostgreSQL; see bench/README.md); records bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py

## Every benchmark at a tiny size, recording nothing: CI runs it so that none rots.
bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
