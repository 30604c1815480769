"""A whole async sweep (``budget.mode: async``) through Airflow's own task runner (``airflow dags test``):
q lanes of gate -> suggest_one -> run_trial, every trial once in Optuna and MLflow, the budget respected,
leftover steps skipped, finalize run."""

from __future__ import annotations

import sqlite3

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, seeds, tracking
from hpo_tasks.config import load_sweep
from hpo_tasks.config.overrides import unrolled_lanes
from hpo_tasks.record import latest_study_name
from hpo_tasks.summary import summarize
from tests.integration.conftest import AirflowSandbox

pytestmark = pytest.mark.integration

ASYNC_BRANIN = """
name: {name}
objective: {{name: branin}}
direction: minimize
space:
  x1: {{type: float, low: -5.0, high: 10.0}}
  x2: {{type: float, low: 0.0, high: 15.0}}
budget: {{max_trials: 10, n_init: 4, batch_size: 3, mode: async}}
sampler: {{name: gp}}
seed: 3
resources: {{retries: 0}}
"""


def test_async_sweep_dag_end_to_end(airflow_sandbox: AirflowSandbox) -> None:
    path = airflow_sandbox.add_sweep("it_async", ASYNC_BRANIN.format(name="it_async"))
    lanes, steps = unrolled_lanes(load_sweep(path))
    assert (lanes, steps) == (3, 8)
    proc = airflow_sandbox.dag_test("hpo__it_async")
    assert proc.returncode == 0, (airflow_sandbox.home / "hpo__it_async.log").read_text()[-6000:]

    name = latest_study_name("it_async")
    study, cfg = record.load(name)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(10))  # the budget, each number once
    assert all(t.state == TrialState.COMPLETE for t in trials)  # nothing RUNNING
    assert all(record.seed_of(t) == seeds.trial_seed(cfg.seed, t.number) for t in trials)
    keys = [t.system_attrs[record.LANE_STEP_ATTR] for t in trials]
    assert len(set(keys)) == 10 and {k.split(":")[0] for k in keys} == {"0", "1", "2"}
    assert any(record.suggest_info(t).get("n_pending", 0) > 0 for t in trials)  # asked with others running

    summary = summarize(name)
    assert summary["stop_reason"] == "max_trials" and summary["n_complete"] == 10
    parent = tracking.run_info(summary["mlflow_parent_run_id"])
    assert parent.info.status == "FINISHED"
    children = tracking.children(parent.info.run_id, "it_async")
    assert sorted(int(c.data.tags["hpo.trial_number"]) for c in children) == list(range(10))
    assert all(c.info.status == "FINISHED" for c in children)

    # The grid: each trial its own task, labelled by number; after the budget, the lanes' steps skip.
    states = airflow_sandbox.task_states("hpo__it_async")
    ran = [
        t
        for lane in range(3)
        for k in range(steps)
        for t in states[f"lane_{lane}.trial_{k:03d}"]
        if t == "success"
    ]
    assert len(ran) == 10
    for lane in range(3):
        seq = [states[f"lane_{lane}.trial_{k:03d}"][0] for k in range(steps)]
        n = seq.count("success")
        assert seq == ["success"] * n + ["skipped"] * (steps - n), (
            lane,
            seq,
        )  # a lane stops once, at the end
        assert states[f"lane_{lane}.suggest_{steps - 1:03d}"] == ["skipped"]
    assert states["record_lanes"] == ["success"] and states["finalize"] == ["success"]
    with sqlite3.connect(airflow_sandbox.home / "airflow.db") as db:
        labels = db.execute(
            "select rendered_map_index from task_instance where dag_id = ? and task_id like 'lane_%.trial_%' "
            "and state = 'success'",
            ("hpo__it_async",),
        ).fetchall()
    assert sorted(label for (label,) in labels) == sorted(f"trial {n}" for n in range(10))
    assert not any(k.startswith("round_") for k in states)
