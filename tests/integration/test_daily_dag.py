"""A real DAG run of a sweep with a final-model hook: plots, a registered challenger promoted to champion,
the best-params asset event, the run's tags. (Promotion's gate, worse vs better, is in unit tests.)"""

from __future__ import annotations

import json
import sqlite3

import pytest

from hpo_tasks import tracking
from hpo_tasks.record import latest_study_name
from hpo_tasks.summary import summarize
from tests.integration.conftest import AirflowSandbox

pytestmark = pytest.mark.integration

XGB = """
name: it_xgb
objective:
  name: xgboost_breast_cancer
  args: {n_folds: 3, holdout_fraction: 0.25}
direction: maximize
space:
  max_depth: {type: int, low: 2, high: 4}
  n_estimators: {type: int, low: 10, high: 40}
budget: {max_trials: 3, n_init: 3, batch_size: 3}
sampler: {name: random}
model: {name: it_xgb_model}
resources: {retries: 0}
"""


def test_nightly_finalize_registers_promotes_and_publishes(airflow_sandbox: AirflowSandbox) -> None:
    airflow_sandbox.add_sweep("it_xgb", XGB)
    proc = airflow_sandbox.dag_test("hpo__it_xgb")
    assert proc.returncode == 0, (airflow_sandbox.home / "hpo__it_xgb.log").read_text()[-6000:]

    summary = summarize(latest_study_name("it_xgb"))
    parent = tracking.run_info(summary["mlflow_parent_run_id"])
    tags = parent.data.tags
    assert tags["airflow.dag_id"] == "hpo__it_xgb" and tags["airflow.run_type"] == "manual"
    assert tags["hpo.promotion"] == "promoted" and tags["hpo.model"] == "it_xgb_model v1"
    assert 0.9 < parent.data.metrics["promotion.challenger_holdout"] <= 1.0

    c = tracking.client()
    artifacts = {a.path for a in c.list_artifacts(parent.info.run_id)}
    assert {"summary.json", "best_config.yaml", "plots", "model", "promotion.json"} <= artifacts
    assert len(c.list_artifacts(parent.info.run_id, "plots")) == 5
    champion = c.get_model_version_by_alias("it_xgb_model", "champion")
    assert champion.run_id == parent.info.run_id

    # Trials know their task instance (the plugin's MLflow trial tab finds them by it).
    child = tracking.children(parent.info.run_id, "it_xgb")[0]
    assert child.data.tags["airflow.task_id"] == "round_00.run_trial"

    with sqlite3.connect(airflow_sandbox.home / "airflow.db") as db:
        rows = db.execute(
            "select e.extra from asset_event e join asset a on a.id = e.asset_id where a.uri = ?",
            ("hpo://it_xgb/best_params",),
        ).fetchall()
    assert len(rows) == 1
    extra = json.loads(rows[0][0])
    assert extra["best_params"] == summary["best_params"] and extra["study_name"] == summary["study_name"]
