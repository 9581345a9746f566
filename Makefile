# `make search` and `make test` set everything up from requirements.txt on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install search test lint clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

search: install  ## the default search (MNIST-1D, macro space, LSTM); pass overrides with ARGS="..."
	$(PY) scripts/search.py $(ARGS)

test: install  ## lint, then the whole test suite (CPU, a few minutes)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache
