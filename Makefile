# The two commands of the quick start are `make demo` and `make test`; both
# create .venv and install what they need, so a fresh clone works as is.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check lint typecheck unit bench proto native native-check clean

# The collector's hot modules, compiled by mypyc beside their source (collector/native.py).
# Rebuilt when a file of their packages changes; a host that cannot compile runs the .py
# (a warning).
NATIVE_SRC := collector/native.py $(wildcard collector/engine/*.py collector/ingest/*.py)
NATIVE := $(VENV)/.native

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NATIVE): $(NATIVE_SRC) | $(STAMP)
	$(BIN)/python -c "import sys, collector.native as n; sys.exit(n.main())" \
	  || echo "warning: the collector's compiled modules were not built; it runs from source" >&2
	touch $(NATIVE)

native: $(NATIVE)

native-check: $(STAMP)
	$(BIN)/python -c "import sys, collector.native as n; sys.exit(n.main(['--check']))"

demo: $(STAMP) $(NATIVE)
	$(BIN)/python -m tests.demo $(if $(KEEP),--keep)

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(NATIVE)
	$(BIN)/python -m pytest -p no:cacheprovider

bench: $(STAMP) $(NATIVE)
	$(BIN)/python -m tests.bench

proto: $(STAMP)
	$(BIN)/python proto/generate.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
	find collector -name '*.so' -delete
