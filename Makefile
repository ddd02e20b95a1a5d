# The two commands a new user needs: `make run` and `make test`. Each sets up its own virtualenv from the lock
# files, so a fresh clone installs exactly the versions CI and the image were tested with.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK_FLAGS := --universal --python-version 3.11 --custom-compile-command "make lock" --quiet

.PHONY: run test test-fast lint fmt typecheck lock containers screenshots bench bench-smoke clean

$(STAMP): pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## Serve on http://127.0.0.1:8000 with SQLite under ./var/, polling the enabled sources.
run: $(STAMP)
	$(BIN)/fx-ticker serve

## Lint, then the whole test suite: SQLite and PostgreSQL (FX_TEST_POSTGRES_URL), server processes, Chromium.
test: lint
	$(BIN)/python -m pytest

## The tests that need no server process, no browser and no PostgreSQL: seconds, for the edit-test loop.
test-fast: $(STAMP)
	FX_TEST_DATABASES=sqlite $(BIN)/python -m pytest -q -m "not slow and not browser"

## ruff (lint and format), mypy on app/ and tests/, and the layer rule (import-linter, [tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy app tests
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy app tests

## Rewrite the code in the house style (what `make lint` checks).
fmt: $(STAMP)
	$(BIN)/ruff check --fix app tests bench
	$(BIN)/ruff format app tests bench

## Re-resolve the lock files from pyproject.toml's ranges (newest releases that fit); commit both files.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements/app.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev -c requirements/app.lock $(LOCK_FLAGS) -o requirements/dev.lock

## The container files, without a container engine: hadolint on the Dockerfile, and docker-compose.yml validated
## by `docker-compose config` (Debian's package) against a throw-away .env made from .env.example.
containers: $(STAMP)
	$(BIN)/hadolint Dockerfile
	@dir=$$(mktemp -d) && cp docker-compose.yml Dockerfile $$dir/ && cp .env.example $$dir/.env && \
	POSTGRES_PASSWORD=validation-only docker-compose -f $$dir/docker-compose.yml config -q; \
	status=$$?; rm -rf $$dir; test $$status -eq 0 && echo "Dockerfile and docker-compose.yml are valid"

## Refresh the README's pictures in docs/img/ from the screenshot tests (which write to a temporary folder otherwise).
screenshots: $(STAMP)
	FX_TEST_SCREENSHOTS=$(CURDIR)/docs/img FX_TEST_DATABASES=sqlite $(BIN)/python -m pytest -q -k screenshot tests/browser

## The speed targets at full size (needs wrk and PostgreSQL; see bench/README.md); records bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py

## Every benchmark at a tiny size, recording nothing: CI runs it so that none rots.
bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
