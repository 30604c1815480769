# hpo-sweeps: `make sweep` runs a real sweep on the embedded defaults; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
# CUDA users: make TORCH_SPEC='torch==2.13.0' with their own index, or install torch before.
TORCH_SPEC ?= torch==2.13.0
SWEEP ?= xgb_breast_cancer
# pytest-xdist workers for `make test` (auto: one per CPU); each test file stays on one worker, so a
# module's fixture (the Celery cluster, the UI stack) starts once. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= auto
BIN := $(VENV)/bin

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
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

airflow: install  ## Airflow UI + scheduler on http://localhost:8080 (password in $(AIRFLOW_HOME))
	$(BIN)/airflow standalone

mlflow: install  ## MLflow UI on http://localhost:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(HPO_STATE_DIR)/mlflow.db --port 5000

clean:
	rm -rf .state
