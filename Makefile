# The two commands a newcomer needs: `make run` and `make test`. Both create .venv and install.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

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
test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest

# the browser tests drive Debian's chromium (never a browser a tool downloads); without root or
# apt-get it is left out and those tests skip, saying why
$(CHROMIUM):
	-if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "chromium is not installed: install Debian's chromium for the browser tests"; fi

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
	$(BIN)/python bench/linking.py
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/reports.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
