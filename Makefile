# The README's commands. `make run` serves on the embedded database; `make test` runs
# every check CI runs (lint, types, the whole test suite on real PostgreSQL).
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8100

.PHONY: install run test lint types pytest clean

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/statewave serve --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

test: lint types pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
