# cryptoflow: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
UV_VERSION := 0.13.9
STAMP  := $(VENV)/.cryptoflow-installed

export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DBT_VERSION_CHECK := false
export DBT_USE_COLORS := false

# make demo EXECUTOR=celery: CeleryExecutor with Redis and two workers (default local: LocalExecutor).
EXECUTOR ?=
EXECUTOR_ARG := $(if $(strip $(EXECUTOR)),--executor $(strip $(EXECUTOR)))

# make test runs the test files on this many processes (pytest-xdist, a file stays on one process);
# each has its own databases, Airflow home and ports. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

.PHONY: help setup lock manifest manifest-if-stale demo budget backfill stop env status sandbox test test-fast lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the pinned set (requirements.lock) with uv

$(STAMP): requirements.lock pyproject.toml
	@bash scripts/bootstrap.sh "$(PYTHON)" "$(VENV)" "$(UV_VERSION)"
	@touch $@

lock: setup ## re-pin requirements.lock from requirements.txt
	$(UV) pip compile -q requirements.txt -o requirements.lock --python 3.11 --python-platform x86_64-unknown-linux-gnu

manifest: setup ## dbt parse: dbt_project/target/manifest.json (no database needed; the dbt_<area>_daily DAGs render from it)
	@$(PY) -m cryptoflow.dbt manifest

# demo and test parse the DAGs: the Cosmos DAGs need the manifest (built again only when stale)
manifest-if-stale: setup
	@$(PY) -m cryptoflow.cosmos_dags

demo: setup manifest-if-stale ## start Postgres, the API sandbox and Airflow, run the DAGs, then dbt; print the marts (EXECUTOR=celery: with Celery workers)
	@$(PY) -m cryptoflow.devstack demo $(EXECUTOR_ARG)

budget: setup ## calls and credits per API from the cadences, against the limits and plans (exit 1: does not fit)
	@$(PY) -m cryptoflow.budget

stop: ## stop what `make demo` started (Celery workers and Redis too), and nothing else
	@if [ -x $(PY) ]; then $(PY) -m cryptoflow.devstack down; fi

env: ## print exports for a shell that reaches the running stack: eval "$(make -s env)"
	@$(MAKE) --no-print-directory -s setup >&2
	@$(PY) -m cryptoflow.devstack env $(EXECUTOR_ARG)

status: setup ## what of the local stack is running
	@$(PY) -m cryptoflow.devstack status $(EXECUTOR_ARG)

sandbox: setup ## run the API sandbox in the foreground
	@$(PY) -m cryptoflow.sandbox

test: setup manifest-if-stale ## run every test (unit, sandbox, DAG, end to end, dbt) on TEST_WORKERS processes
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup ## the unit tests only
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: setup ## ruff (with the AIR rules) and sqlfluff on the dbt models
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/sqlfluff lint dbt_project/models dbt_project/tests

bench: setup ## run the benchmarks; figures print and land as JSON under .local/bench/
	@$(PY) -m bench

clean: stop ## stop the .local Postgres and Redis too, then remove .local/ (cluster, Airflow homes, logs) and dbt's target/
	@if [ -x $(PY) ]; then $(PY) -m cryptoflow.devstack postgres stop; $(PY) -m cryptoflow.devstack redis stop; fi
	rm -rf .local dbt_project/target dbt_project/logs

backfill: setup ## DAG=... FROM=YYYY-MM-DD TO=YYYY-MM-DD [REPROCESS=completed] [DRY_RUN=1]: print the plan (runs, calls, credits, time), then airflow backfill create
	@test -n "$(DAG)" -a -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill DAG=coingecko_price_history FROM=2026-01-01 TO=2026-03-31 [REPROCESS=completed] [DRY_RUN=1]" >&2; exit 2; }
	@$(PY) -m cryptoflow.devstack backfill $(DAG) $(FROM) $(TO) $(if $(REPROCESS),--reprocess-behavior $(REPROCESS)) $(if $(MAX_ACTIVE_RUNS),--max-active-runs $(MAX_ACTIVE_RUNS)) $(if $(DRY_RUN),--dry-run) $(if $(FORCE),--force)
