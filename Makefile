# One entry point for every routine task. Each target sets up what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test check lint format types imports clean

## Start restosync on an embedded PostgreSQL (or DATABASE_URL), web + worker in one process.
run: $(STAMP)
	$(BIN)/restosync up

## The whole test suite (starts its own PostgreSQL unless TEST_DATABASE_URL is set).
test: $(STAMP)
	$(BIN)/pytest

## Everything CI checks: lint, formatting, types, layer contracts, tests.
check: lint types imports test

lint: $(STAMP)
	$(BIN)/ruff check restosync tests bench
	$(BIN)/ruff format --check restosync tests bench

format: $(STAMP)
	$(BIN)/ruff format restosync tests bench
	$(BIN)/ruff check --fix restosync tests bench

types: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
