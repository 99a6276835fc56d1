# scorecard: `make` lists the targets. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: the demo needs only the job itself; tests, lint and bench need the dev tools too.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
SNOWFLAKE_VENV := .venv-snowflake
SNOWFLAKE_STAMP := $(SNOWFLAKE_VENV)/.installed
DEMO_DIR := demo
# Test tools from npm, pinned: the Nu HTML checker (valid HTML, runs on Java), and axe-core
# driven by playwright-core in Debian's Chromium (accessibility). Tests skip without them,
# and fail under CI=true.
VNU_VERSION := 26.9.27
AXE_VERSION := 4.14.1
PLAYWRIGHT_VERSION := 1.65.1
TOOLS_STAMP := .tools/.installed-$(VNU_VERSION)-$(AXE_VERSION)-$(PLAYWRIGHT_VERSION)

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(RUN_STAMP): pyproject.toml scripts/system-deps.sh
	bash scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP) $(SNOWFLAKE_STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

# Snowflake's emulation (fakesnow) fakes the 4.x connector, which the snowflake-sqlalchemy
# for SQLAlchemy 2.1 does not take: a venv of its own runs it (tests/snowflake_emulation.py).
$(SNOWFLAKE_STAMP): pyproject.toml
	test -x $(SNOWFLAKE_VENV)/bin/python || $(PYTHON) -m venv $(SNOWFLAKE_VENV)
	$(SNOWFLAKE_VENV)/bin/pip install --quiet --upgrade pip
	$(SNOWFLAKE_VENV)/bin/pip install --quiet -e . 'sqlalchemy>=2.0.44,<2.1' \
	    'snowflake-sqlalchemy>=1.11,<2' 'snowflake-connector-python>=4.8,<5' 'fakesnow==0.12.*'
	touch $(SNOWFLAKE_STAMP)

install: $(DEV_STAMP) ## Create .venv with scorecard and its dev tools

$(TOOLS_STAMP):
	bash scripts/test-deps.sh
	@if command -v npm >/dev/null; then \
	  npm install --prefix .tools --silent --no-audit --no-fund \
	    vnu-jar@$(VNU_VERSION) axe-core@$(AXE_VERSION) playwright-core@$(PLAYWRIGHT_VERSION) \
	  && touch $(TOOLS_STAMP); \
	else echo "npm not found: the HTML validity and accessibility tests will skip (they fail under CI=true)"; fi

demo: $(RUN_STAMP) ## Build the demo database and run the whole job on it (outputs in demo/out)
	$(BIN)/scorecard demo --dir $(DEMO_DIR) --log-format text

servicenow: $(RUN_STAMP) ## Load the ServiceNow sample as text and score it through examples/servicenow/scorecard.toml (outputs in demo/servicenow)
	mkdir -p $(DEMO_DIR)
	$(BIN)/scorecard load-csv examples/servicenow/incident_event_log.sample.csv.gz --table incident_events \
	    --database-url sqlite:///$(DEMO_DIR)/servicenow.db --replace
	$(BIN)/scorecard run --config examples/servicenow/scorecard.toml --database-url sqlite:///$(DEMO_DIR)/servicenow.db \
	    --as-of 2016-03-31 --out $(DEMO_DIR)/servicenow

test: $(DEV_STAMP) $(TOOLS_STAMP) ## Run every test (PostgreSQL and MariaDB tests need their servers; under CI=true they must run)
	$(BIN)/pytest

test-unit: $(DEV_STAMP) ## Run the fast unit half of the tests (no servers, no whole runs): seconds
	$(BIN)/pytest -m "not integration"

gold: $(DEV_STAMP) ## Rewrite the HTML gold files from the current templates (review the diff!)
	SCORECARD_UPDATE_GOLD=1 $(BIN)/pytest -q tests/test_reports.py -k gold
	git diff --stat tests/gold

lint: $(DEV_STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy bench/run.py
	$(BIN)/python scripts/import_graph.py

bench: $(DEV_STAMP) ## Benchmarks: extract+score and render time and memory (results in bench/RESULTS.md)
	$(BIN)/python bench/run.py

docs: $(DEV_STAMP) ## Build the documentation (docs/) into site/, strictly: a broken link or anchor fails
	$(BIN)/mkdocs build --strict --site-dir site

dist: $(DEV_STAMP) ## Build the sdist and wheel into dist/ and check them as PyPI would (twine check --strict)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

clean: ## Remove the venv, the demo, built distributions and caches
	rm -rf $(VENV) .tools $(DEMO_DIR) out build dist site *.egg-info .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install demo servicenow test test-unit gold lint bench docs dist clean
