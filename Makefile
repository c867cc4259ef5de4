# The two commands a newcomer needs: `make run` and `make test`. Both create .venv and install.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the main job on the embedded defaults (SQLite, offline, demo mentions); Ctrl-C stops it
run: $(STAMP)
	$(BIN)/socialcrm run --demo

## test: the whole test suite (also on PostgreSQL when SOCIALCRM_TEST_DATABASE_URL is set)
test: $(STAMP)
	$(BIN)/python -m pytest

## lint: ruff, mypy and the import contracts between packages
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: the benchmarks, printing their figures
bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/nlp.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
