# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make run    install, then run the main job headless (synthetic sample unless VRR_LANDING_DIR is set)
#   make test   install, then run the whole test suite
#   make spark-check   the same dbt models on Apache Spark (needs Java 17+), marts compared with DuckDB's
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Spark's packages live in an environment of their own, made on the first `make spark-check`.
SPARK_VENV := .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.installed
# Everything Spark writes (metastore, tables, scratch space, logs) and the check's DuckDB build.
export VRR_SPARK_DIR ?= $(CURDIR)/data/spark
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# dbt and dagster from the project's environment, also for what Dagster starts (e.g. its manifest preparer)
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install browser run full-refresh test soak bench dev sql docs manifest lint format lock clean spark-check

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(SPARK_STAMP): requirements-spark.lock
	$(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SPARK_VENV)/bin/python -m pip install --quiet -r requirements-spark.lock
	touch $(SPARK_STAMP)

# Browser tests drive Debian's chromium (Playwright with executable_path; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# The dbt manifest is prepared explicitly (never at import time); vrr-dbt (pipeline/dbt_cli.py) leaves it as it is
# when nothing that shapes it has changed since dbt wrote it.
manifest: $(STAMP)
	cd dbt_project && ../$(BIN)/vrr-dbt parse --quiet

run: $(STAMP) $(DAGSTER_HOME)/dagster.yaml manifest
	$(BIN)/python -m pipeline.run

# Rebuild the warehouse from every extract in the landing folder (after a change to the models, seeds or key).
full-refresh: $(STAMP) $(DAGSTER_HOME)/dagster.yaml manifest
	$(BIN)/python -m pipeline.run --full-refresh

# The benchmark: 100 thousand, 1 million and 10 million synthetic decisions (BENCH_SIZES to choose), then the test
# suite timed once (BENCH_SUITE=0 to leave it out); writes bench/results.md with the targets judged. Heavy: run it on
# a quiet machine.
bench: $(STAMP) $(DAGSTER_HOME)/dagster.yaml manifest
	$(BIN)/python -m bench.run $(BENCH_SIZES)

# On TEST_WORKERS processes (pytest-xdist; 0 for one process), each taking the next group of tests in the order
# they are collected; tests/conftest.py says which tests go together. The 25 slowest tests are listed at the end,
# to show where the suite's time goes.
TEST_WORKERS ?= 2

test: $(STAMP) browser $(DAGSTER_HOME)/dagster.yaml manifest
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=25

# The tests marked slow, left out of `make test` (CI runs them after it): twenty runs in a row with a reader holding
# the warehouse, and incremental and full builds compared through a sequence of landing-folder changes; side by side
# on TEST_WORKERS processes, as each is one long test that keeps about one core busy.
soak: $(STAMP) $(DAGSTER_HOME)/dagster.yaml manifest
	$(BIN)/python -m pytest -m slow -n $(TEST_WORKERS) --dist loadgroup --durations=0

# Ingest (VRR_LANDING_DIR, else the synthetic sample) and build on DuckDB, then build the same dbt project on a
# local Spark and compare every mart row for row; exits non-zero on any difference or failed node. About 2 to 3
# minutes on the sample (Spark's JVM start included).
spark-check: $(STAMP) $(SPARK_STAMP) manifest
	$(BIN)/python -m pipeline.spark_check --spark-python $(SPARK_VENV)/bin/python

sql: $(STAMP)
	$(BIN)/python -m pipeline.sql

# dbt's documentation site with the lineage graph, as one static file (data/docs/index.html), built offline.
docs: $(STAMP) manifest
	$(BIN)/python -m pipeline.docs_site

dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml manifest
	$(BIN)/dagster dev -w workspace.yaml

# Lint and format checks: ruff (Python) and sqlfluff with the dbt templater (the models and tests' SQL, compiled
# against an empty in-memory database: the lint target of profiles.yml). `make format` applies the fixes.
LINT_SQL := dbt_project/models dbt_project/tests
lint format: export DBT_TARGET_PATH := target/lint

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint $(LINT_SQL)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/sqlfluff fix $(LINT_SQL)

lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra lint -o requirements.lock --python-version 3.11 --no-header --annotation-style line
	$(BIN)/uv pip compile requirements-spark.in -o requirements-spark.lock --python-version 3.11 --no-header --annotation-style line

clean:
	rm -rf $(VENV) $(SPARK_VENV) .dagster_home data dbt_project/target dbt_project/logs
