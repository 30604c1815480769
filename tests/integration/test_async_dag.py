"""A whole async sweep (``budget.mode: async``) through Airflow's own task runner (``airflow dags test``):
q lanes of suggest -> trial steps (each suggest one step ahead), every trial once in Optuna and MLflow, the
budget respected, a trial task that fails for good leaves its lane going, leftover steps skipped, finalize
run."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, seeds, tracking
from hpo_tasks.config import load_sweep
from hpo_tasks.config.overrides import unrolled_lanes
from hpo_tasks.objectives.synthetic import branin
from hpo_tasks.record import latest_study_name
from hpo_tasks.settings import state_dir
from hpo_tasks.summary import summarize
from tests.conftest import REPO, write_sweep
from tests.integration.conftest import AirflowSandbox

pytestmark = pytest.mark.integration


def branin_crashing_once(params: Mapping[str, Any], *, seed: int) -> float:
    """Branin; the first call of the sweep's state folder exits its process's task instead (SystemExit is
    no objective failure: the trial task fails, and with ``retries: 0`` for good)."""
    marker = state_dir() / "crashed-once"
    if not marker.exists():
        marker.touch()
        raise SystemExit(3)
    return branin(params, seed=seed)


ASYNC_BRANIN = """
name: {name}
objective: {{name: "tests.integration.test_async_dag:branin_crashing_once"}}
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
    failed = [t for t in trials if t.state == TrialState.FAIL]  # the crashed task's trial, failed by its lane
    assert len(failed) == 1 and failed[0].user_attrs[record.ERROR_ATTR].startswith("trial task did not")
    assert all(t.state == TrialState.COMPLETE for t in trials if t not in failed)  # nothing RUNNING
    assert all(record.seed_of(t) == seeds.trial_seed(cfg.seed, t.number) for t in trials)
    keys = [t.system_attrs[record.LANE_STEP_ATTR] for t in trials]
    assert len(set(keys)) == 10 and {k.split(":")[0] for k in keys} == {"0", "1", "2"}
    assert any(record.suggest_info(t).get("n_pending", 0) > 0 for t in trials)  # asked with others running

    summary = summarize(name)
    assert summary["stop_reason"] == "max_trials" and summary["n_complete"] == 9
    parent = tracking.run_info(summary["mlflow_parent_run_id"])
    assert parent.info.status == "FINISHED"
    children = tracking.children(parent.info.run_id, "it_async")
    assert sorted(int(c.data.tags["hpo.trial_number"]) for c in children) == list(range(10))
    assert sorted(c.info.status for c in children) == ["FAILED"] + ["FINISHED"] * 9

    # The grid: each trial its own task, labelled by number; a lane's steps run in order, the crashed
    # trial's lane went on after it, and after the budget the rest of every lane is skipped.
    states = airflow_sandbox.task_states("hpo__it_async")
    assert not any(k.startswith(("round_", "lane_0.gate")) for k in states)
    crashed = failed[0].system_attrs[record.LANE_STEP_ATTR]
    ran = 0
    for lane in range(3):
        seq = [states[f"lane_{lane}.trial_{k:03d}"][0] for k in range(steps)]
        n = sum(state in ("success", "failed") for state in seq)
        expected = ["success"] * n
        if crashed.startswith(f"{lane}:"):
            expected[int(crashed.split(":")[1])] = "failed"
        assert seq == expected + ["skipped"] * (steps - n), (lane, seq)
        asks = [states[f"lane_{lane}.suggest_{k:03d}"][0] for k in range(steps)]
        stopped = ["success"] * min(n + 1, steps) + ["skipped"] * max(0, steps - n - 1)
        assert asks == stopped, (lane, asks)  # the suggest after the last trial said stop: [] skips the rest
        ran += n
    assert ran == 10
    assert states["record_lanes"] == ["success"] and states["finalize"] == ["success"]
    with sqlite3.connect(airflow_sandbox.home / "airflow.db") as db:
        labels = db.execute(
            "select rendered_map_index from task_instance where dag_id = ? and task_id like 'lane_%.trial_%' "
            "and state in ('success', 'failed')",
            ("hpo__it_async",),
        ).fetchall()
    assert sorted(label for (label,) in labels) == sorted(f"trial {n}" for n in range(10))


@pytest.mark.parametrize("ahead", [False, True])
def test_a_task_process_builds_only_its_dag_with_the_lanes_shape(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ahead: bool
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    text = ASYNC_BRANIN.replace("mode: async}", "mode: async, ask_ahead: true}") if ahead else ASYNC_BRANIN
    for name in ("it_async", "other"):
        write_sweep(tmp_path, name, text.format(name=name))
    monkeypatch.setenv("HPO_SWEEPS_DIR", str(tmp_path))
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "hpo__it_async")  # as Airflow's task runner sets it
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {} and list(bag.dags) == ["hpo__it_async"]
    dag = bag.dags["hpo__it_async"]
    assert len(dag.tasks) == 2 * 3 * 8 + 3  # 2 tasks a step: no gate tasks
    up = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    assert up["lane_1.suggest_000"] == {"init_study"}
    if ahead:  # asks while the lane's previous trial runs, after the one before it ended
        assert up["lane_1.suggest_001"] == {"init_study", "lane_1.suggest_000"}
        assert up["lane_1.suggest_005"] == {"init_study", "lane_1.suggest_004", "lane_1.trial_003"}
    else:  # asks when the lane's previous trial has ended
        assert up["lane_1.suggest_001"] == {"init_study", "lane_1.suggest_000", "lane_1.trial_000"}
        assert up["lane_1.suggest_005"] == {"init_study", "lane_1.suggest_004", "lane_1.trial_004"}
    assert up["lane_1.trial_005"] == {"lane_1.suggest_005", "lane_1.trial_004"}  # no task in between
    # a stop skips the rest of a lane while its previous trial runs: record_lanes waits for every trial
    every_trial = {f"lane_{i}.trial_{k:03d}" for i in range(3) for k in range(8)}
    assert up["record_lanes"] - {"init_study"} == every_trial
    rules = {t.task_id: t.trigger_rule for t in dag.tasks}
    assert rules["lane_1.trial_005"] == rules["lane_1.suggest_005"] == "all_done_min_one_success"
    assert dag.task_dict["lane_1.trial_005"].pool == "default_pool"
