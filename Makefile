# scorecard: `make` lists the targets. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := demo
# The Nu HTML checker, for the test that every HTML output is valid (needs Java and npm).
VNU_VERSION := 26.9.27
VNU := .tools/node_modules/vnu-jar/build/dist/vnu.jar

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml scripts/system-deps.sh
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv with scorecard and its dev tools

$(VNU):
	@if command -v npm >/dev/null; then \
	  npm install --prefix .tools --silent --no-audit --no-fund vnu-jar@$(VNU_VERSION); \
	else echo "npm not found: the HTML validity test will skip (it fails under CI=true)"; fi

demo: $(STAMP) ## Build the demo database and run the whole job on it (outputs in demo/out)
	$(BIN)/scorecard demo --dir $(DEMO_DIR)

servicenow: $(STAMP) ## Load the ServiceNow sample as text and score it through examples/servicenow/scorecard.toml (outputs in demo/servicenow)
	mkdir -p $(DEMO_DIR)
	$(BIN)/scorecard load-csv examples/servicenow/incident_event_log.sample.csv.gz --table incident_events \
	    --database-url sqlite:///$(DEMO_DIR)/servicenow.db --replace
	$(BIN)/scorecard run --config examples/servicenow/scorecard.toml --database-url sqlite:///$(DEMO_DIR)/servicenow.db \
	    --as-of 2016-03-31 --out $(DEMO_DIR)/servicenow

test: $(STAMP) $(VNU) ## Run every test (PostgreSQL and MariaDB tests need their servers; under CI=true they must run)
	$(BIN)/pytest

gold: $(STAMP) ## Rewrite the HTML gold files from the current templates (review the diff!)
	SCORECARD_UPDATE_GOLD=1 $(BIN)/pytest -q tests/test_reports.py -k gold
	git diff --stat tests/gold

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy bench/run.py

bench: $(STAMP) ## Benchmarks: extract+score and render time and memory (results in bench/RESULTS.md)
	$(BIN)/python bench/run.py

clean: ## Remove the venv, the demo and caches
	rm -rf $(VENV) .tools $(DEMO_DIR) out build *.egg-info .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install demo servicenow test gold lint bench clean
