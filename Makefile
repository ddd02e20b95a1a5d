# The two commands a new user needs: `make run` and `make test`. Each sets up its own virtualenv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck containers bench bench-smoke clean

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

## The container files, without a container engine: hadolint on the Dockerfile, and docker-compose.yml validated
## by `docker-compose config` (Debian's package) against a throw-away .env made from .env.example.
containers: $(STAMP)
	$(BIN)/hadolint Dockerfile
	@dir=$$(mktemp -d) && cp docker-compose.yml Dockerfile $$dir/ && cp .env.example $$dir/.env && \
	POSTGRES_PASSWORD=validation-only docker-compose -f $$dir/docker-compose.yml config -q; \
	status=$$?; rm -rf $$dir; test $$status -eq 0 && echo "Dockerfile and docker-compose.yml are valid"

## The speed targets at full size (needs wrk and PostgreSQL; see bench/README.md); records bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py

## Every benchmark at a tiny size, recording nothing: CI runs it so that none rots.
bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
