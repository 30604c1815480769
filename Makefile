# hpo-sweeps: `make sweep` runs a real sweep on the embedded defaults; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
# CUDA users: make TORCH_SPEC='torch==2.13.0' with their own index, or install torch before.
TORCH_SPEC ?= torch==2.13.0
SWEEP ?= xgb_breast_cancer
# pytest-xdist workers for `make test` (auto: one per CPU); each test file stays on one worker, so a
# module's fixture (the Celery cluster, the UI stack) starts once, except the independent long ones
# (tests/conftest.py SPREAD). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= auto
BIN := $(abspath $(VENV))/bin
# Ports of `make airflow` and `make mlflow` (the tests run both on free ports): `make airflow AIRFLOW_PORT=8090`.
AIRFLOW_PORT ?= 8080
MLFLOW_PORT ?= 5000
MLFLOW_WORKERS ?= 1

export HPO_STATE_DIR ?= $(CURDIR)/.state
export AIRFLOW_HOME ?= $(HPO_STATE_DIR)/airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER ?= $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False

.PHONY: install sweep test lint airflow mlflow clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e '.[dev,cluster]'
	touch $@

install: $(VENV)/.installed

sweep: install  ## a real XGBoost sweep through Airflow (SQLite metadata + Optuna, local MLflow)
	$(BIN)/hpo dag-run $(SWEEP)

test: install  ## lint + the whole test suite (unit and integration, PostgreSQL included)
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

# Both work with nothing activated: `airflow standalone` starts its components as `airflow ...` looked up on
# PATH, so the venv's bin goes first; PYTHONPATH makes this checkout's hpo_tasks the one imported (also with
# VENV= pointing at another checkout's venv). Sizing comes from hpo_tasks/settings.py (its docstring):
# (the task runner's execution API follows the port through [api] base_url)
# [core] parallelism = max(CPUs, largest batch_size in the sweep files) + 2 (Airflow's default is 32),
# [scheduler] task_instance_heartbeat_timeout 30 s locally (a killed worker's task is retried after that;
# the cluster harness uses 20 s, docker compose 120 s; Airflow's default 300 s); one API-server worker.
# A value you export wins over these.
RUN_LOCAL := PATH="$(BIN):$$PATH" PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}"

airflow: install  ## Airflow UI + scheduler on http://localhost:8080 (password in $(AIRFLOW_HOME))
	$(RUN_LOCAL) AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	  AIRFLOW__API__BASE_URL="$${AIRFLOW__API__BASE_URL:-http://localhost:$(AIRFLOW_PORT)}" \
	  AIRFLOW__API__WORKERS="$${AIRFLOW__API__WORKERS:-1}" \
	  MLFLOW_UI_URL="$${MLFLOW_UI_URL:-http://localhost:$(MLFLOW_PORT)}" \
	  env $$($(RUN_LOCAL) $(BIN)/python -m hpo_tasks.settings) $(BIN)/airflow standalone

# One web worker and no GenAI job runner (huey consumers): MLflow's defaults start a dozen processes.
mlflow: install  ## MLflow UI on http://localhost:5000
	$(RUN_LOCAL) MLFLOW_SERVER_ENABLE_JOB_EXECUTION="$${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}" \
	  $(BIN)/mlflow ui --backend-store-uri sqlite:///$(HPO_STATE_DIR)/mlflow.db \
	  --host 127.0.0.1 --port $(MLFLOW_PORT) --workers $(MLFLOW_WORKERS)

clean:
	rm -rf .state
