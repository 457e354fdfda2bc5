# stockrnn: `make help` lists the targets. `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Installed before the project: any other version (or an unpinned torch) pulls CUDA wheels.
TORCH_VERSION ?= 2.13.0
DEMO_DIR ?= .demo

.DEFAULT_GOAL := help
.PHONY: help install demo test lint format bench clean

help: ## Show this help
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==$(TORCH_VERSION)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed ## Create .venv: the pinned CPU torch first, then stockrnn with dev tools

demo: install ## Load the bundled sample into a store under .demo/ and list it
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/stockrnn fetch --sample --store $(DEMO_DIR)/store
	$(VENV)/bin/stockrnn store --store $(DEMO_DIR)/store

test: install ## Run the whole test suite (offline; slow end-to-end tests included)
	$(PY) -m pytest

lint: install ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install ## Apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean: ## Remove the virtual environment, demo output and caches
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache .hypothesis
