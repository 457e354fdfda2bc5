# stockrnn: `make help` lists the targets. `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
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

# pip says what it is doing (one line per package, no bars): a first install takes minutes.
PIP_INSTALL := $(PY) -m pip install --progress-bar off --disable-pip-version-check
$(VENV)/.installed: pyproject.toml
	@echo "== creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --quiet --upgrade pip
	@echo "== installing torch $(TORCH_VERSION) (the CPU wheel, about 200 MB; a minute or two)"
	$(PIP_INSTALL) torch==$(TORCH_VERSION) | { grep -E "^(Collecting|Successfully|Requirement already)" || true; }
	@echo "== installing stockrnn and its libraries (pandas, yfinance, arch, scikit-learn, ...)"
	$(PIP_INSTALL) -e ".[dev]" | { grep -E "^(Collecting|Successfully)" || true; }
	$(PY) -c "import torch, stockrnn.api"
	touch $@

install: $(VENV)/.installed ## Create .venv: the pinned CPU torch first, then stockrnn with dev tools

# The tests also run fits as Ray tasks on a local instance: the optional extra stockrnn[ray]. Where
# its wheel cannot install, say so; that one test then skips, naming the reason.
$(VENV)/.ray-installed: $(VENV)/.installed
	@echo "== installing ray (the optional extra stockrnn[ray], for the Ray test)"
	$(PIP_INSTALL) -e ".[ray]" | { grep -E "^(Collecting|Successfully)" || true; } \
		|| echo "== ray could not be installed here: the Ray test will be skipped"
	touch $@

STOCKRNN_DEMO := $(VENV)/bin/stockrnn
DEMO_PATHS := --store $(DEMO_DIR)/store --runs $(DEMO_DIR)/runs

demo: install ## Sample -> store -> train a 5-session GRU -> runs -> predict -> backtest -> report, under .demo/
	rm -rf $(DEMO_DIR)
	$(STOCKRNN_DEMO) fetch --sample --store $(DEMO_DIR)/store
	$(STOCKRNN_DEMO) store --store $(DEMO_DIR)/store
	$(STOCKRNN_DEMO) train --horizon 5 $(DEMO_PATHS)
	$(STOCKRNN_DEMO) runs --runs $(DEMO_DIR)/runs
	@echo "The sample ends in 2018, so predict needs --allow-stale (a cron job would not pass it)."
	$(STOCKRNN_DEMO) predict --allow-stale $(DEMO_PATHS) --out $(DEMO_DIR)/forecasts
	$(STOCKRNN_DEMO) backtest --horizon 5 --folds 4 --step 63 $(DEMO_PATHS)
	$(STOCKRNN_DEMO) report --backtest --runs $(DEMO_DIR)/runs --out $(DEMO_DIR)/report.html

test: install $(VENV)/.ray-installed ## Run the whole test suite (offline; slow end-to-end tests included)
	$(PY) -m pytest

bench: install ## Benchmark table: training speed vs a tutorial loop, RSS, predict (BENCH_ARGS=--quick for CI)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

lint: install ## ruff lint and format check, and the stage layering contract (import-linter)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

format: install ## Apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean: ## Remove the virtual environment, demo output and caches
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache .hypothesis
