"""A whole async sweep (``budget.mode: async``) through Airflow's own task runner (``airflow dags test``):
q lanes of steps (one task each, asking its trial and running it), every trial once in Optuna and MLflow,
the budget respected, a trial task that fails for good leaves its lane going, leftover steps skipped,
finalize run; and the DAG's shape in both lane forms (asking ahead: a suggest and a trial task a step)."""

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
    # (``dags test`` runs one task at a time, so here no ask sees another lane's trial running: asks with
    # trials pending are tests/unit/test_async_lanes.py's, lanes overlapping on an executor the cluster's)

    summary = summarize(name)
    assert summary["stop_reason"] == "max_trials" and summary["n_complete"] == 9
    parent = tracking.run_info(summary["mlflow_parent_run_id"])
    assert parent.info.status == "FINISHED"
    children = tracking.children(parent.info.run_id, "it_async")
    assert sorted(int(c.data.tags["hpo.trial_number"]) for c in children) == list(range(10))
    assert sorted(c.info.status for c in children) == ["FAILED"] + ["FINISHED"] * 9

    # The grid: each trial its own task (no suggest task between), labelled by number, the crashed one
    # too (its process exited inside the objective: the label was sent when it asked); a lane's steps run
    # in order, the crashed trial's lane went on after it, and after the budget the step that found the
    # sweep stopped is skipped ("stopped"), and so is the rest of its lane.
    states = airflow_sandbox.task_states("hpo__it_async")
    assert not any(k.startswith(("round_", "lane_0.gate", "lane_0.suggest")) for k in states)
    crashed = failed[0].system_attrs[record.LANE_STEP_ATTR]
    ran = 0
    for lane in range(3):
        seq = [states[f"lane_{lane}.trial_{k:03d}"][0] for k in range(steps)]
        n = sum(state in ("success", "failed") for state in seq)
        expected = ["success"] * n
        if crashed.startswith(f"{lane}:"):
            expected[int(crashed.split(":")[1])] = "failed"
        assert seq == expected + ["skipped"] * (steps - n), (lane, seq)
        ran += n
    assert ran == 10
    assert states["record_lanes"] == ["success"] and states["finalize"] == ["success"]
    with sqlite3.connect(airflow_sandbox.home / "airflow.db") as db:
        labels = db.execute(
            "select state, rendered_map_index from task_instance where dag_id = ? and task_id like "
            "'lane_%.trial_%' and rendered_map_index is not null",
            ("hpo__it_async",),
        ).fetchall()
    ran_labels = sorted(label for state, label in labels if state in ("success", "failed"))
    assert ran_labels == sorted(f"trial {n}" for n in range(10))
    # each lane's step after its last trial ran, found the budget spent and skipped itself
    assert sorted(label for state, label in labels if state == "skipped") == ["stopped"] * 3


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
    up = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    rules = {t.task_id: t.trigger_rule for t in dag.tasks}
    if ahead:  # a suggest and a trial task a step: asks while the lane's previous trial runs
        assert len(dag.tasks) == 2 * 3 * 8 + 3  # no gate tasks
        assert up["lane_1.suggest_000"] == {"init_study"}
        assert up["lane_1.suggest_001"] == {"init_study", "lane_1.suggest_000"}
        assert up["lane_1.suggest_005"] == {"init_study", "lane_1.suggest_004", "lane_1.trial_003"}
        assert up["lane_1.trial_005"] == {"lane_1.suggest_005", "lane_1.trial_004"}  # no task in between
        assert rules["lane_1.suggest_005"] == "all_done_min_one_success"
    else:  # one task a step, asking its trial when the lane's previous one has ended, and running it
        assert len(dag.tasks) == 3 * 8 + 3
        assert up["lane_1.trial_000"] == {"init_study"}
        assert up["lane_1.trial_005"] == {"init_study", "lane_1.trial_004"}
        assert rules["lane_1.trial_000"] == "all_success"
        assert dag.task_dict["lane_1.trial_005"].map_index_template == "{{ hpo_label | default('') }}"
    # a stop skips the rest of a lane while other trials run: record_lanes waits for every trial
    every_trial = {f"lane_{i}.trial_{k:03d}" for i in range(3) for k in range(8)}
    assert up["record_lanes"] - {"init_study"} == every_trial
    assert rules["lane_1.trial_005"] == "all_done_min_one_success"
    assert dag.task_dict["lane_1.trial_005"].pool == "default_pool"
