"""Whole DAG runs through Airflow's own task runner (``airflow dags test``) on SQLite."""

from __future__ import annotations

import json

import pytest
from optuna.trial import TrialState

from hpo_tasks import record, seeds, tracking
from hpo_tasks.config import load_sweep
from hpo_tasks.record import latest_study_name
from hpo_tasks.steps import run_in_process
from hpo_tasks.summary import summarize
from tests.integration.conftest import AirflowSandbox, branin_dag_sweep

pytestmark = pytest.mark.integration


def _assert_ok(proc, sandbox: AirflowSandbox, dag_id: str) -> None:
    assert proc.returncode == 0, (sandbox.home / f"{dag_id}.log").read_text()[-6000:]


def test_sweep_dag_end_to_end(airflow_sandbox: AirflowSandbox) -> None:
    path = airflow_sandbox.add_sweep("it_branin", branin_dag_sweep("it_branin"))
    _assert_ok(airflow_sandbox.dag_test("hpo__it_branin"), airflow_sandbox, "hpo__it_branin")

    name = latest_study_name("it_branin")
    study, cfg = record.load(name)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(9))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(record.seed_of(t) == seeds.trial_seed(cfg.seed, t.number) for t in trials)

    summary = summarize(name)
    assert summary["stop_reason"] == "max_trials" and summary["n_complete"] == 9

    # MLflow: one parent, one child per trial with params, value, wallclock and the seed as a tag.
    parent = tracking.run_info(summary["mlflow_parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["hpo.stop_reason"] == "max_trials"
    assert parent.data.tags["version.botorch"]
    children = tracking.children(parent.info.run_id, "it_branin")
    assert sorted(int(c.data.tags["hpo.trial_number"]) for c in children) == list(range(9))
    by_number = {t.number: t for t in trials}
    for c in children:
        t = by_number[int(c.data.tags["hpo.trial_number"])]
        assert c.info.status == "FINISHED"
        assert c.data.metrics["value"] == pytest.approx(t.value)
        assert c.data.tags["hpo.seed"] == str(record.seed_of(t)) and "seed" not in c.data.metrics
        # The objective's own time: measured inside the trial task, so within the trial's span in Optuna
        # (asked in the suggest task, told after the objective returned), and the same number in both stores.
        wallclock = c.data.metrics["wallclock_seconds"]
        assert wallclock == pytest.approx(t.user_attrs[record.WALLCLOCK_ATTR])
        assert 0 < wallclock <= (t.datetime_complete - t.datetime_start).total_seconds()
        assert set(c.data.params) == {"x1", "x2"}
        assert c.data.tags["airflow.dag_id"] == "hpo__it_branin"
    artifacts = {a.path for a in tracking.client().list_artifacts(parent.info.run_id)}
    assert {"summary.json", "best_config.yaml"} <= artifacts

    # The grid: 4 seed trials, a round of 3, a round of 2; the unrolled round after the stop is skipped.
    states = airflow_sandbox.task_states("hpo__it_branin")
    assert states["round_00.run_trial"] == ["success"] * 4
    assert states["round_02.run_trial"] == ["success"] * 2
    assert states["round_03.suggest"] == ["skipped"] and states["round_03.record"] == ["skipped"]
    assert states["finalize"] == ["success"]

    # Reproducible: the same sweep and seed, driven in-process, suggests the same configurations.
    again = run_in_process(load_sweep(path), label="replay")
    replay = record.load(again["study_name"])[0].get_trials()
    assert [t.params for t in replay] == [t.params for t in trials]


def test_failing_objective_marks_trials_failed_and_the_sweep_finishes(
    airflow_sandbox: AirflowSandbox,
) -> None:
    objective = "tests.integration.faulty_objectives:branin_with_failures"
    airflow_sandbox.add_sweep("it_faulty", branin_dag_sweep("it_faulty", objective))
    _assert_ok(airflow_sandbox.dag_test("hpo__it_faulty"), airflow_sandbox, "hpo__it_faulty")

    name = latest_study_name("it_faulty")
    study, _ = record.load(name)
    trials = study.get_trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(trials) == 9 and failed, "this seed's design hits the failing region"
    assert all(("diverged" in t.user_attrs["error"]) or ("nan" in t.user_attrs["error"]) for t in failed)
    summary = summarize(name)
    assert summary["n_failed"] == len(failed) and summary["n_complete"] == 9 - len(failed)
    assert summary["stop_reason"] == "max_trials"

    children = tracking.children(summary["mlflow_parent_run_id"], "it_faulty")
    failed_runs = [c for c in children if c.data.tags["hpo.state"] == "FAIL"]
    assert len(children) == 9 and len(failed_runs) == len(failed)
    assert all(c.info.status == "FAILED" and c.data.tags["hpo.error"] for c in failed_runs)
    assert all("value" not in c.data.metrics for c in failed_runs)


@pytest.mark.postgres
def test_sweep_dag_with_postgres_optuna_storage_and_form_overrides(
    airflow_sandbox: AirflowSandbox, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    airflow_sandbox.env["HPO_OPTUNA_STORAGE"] = postgres_url
    monkeypatch.setenv("HPO_OPTUNA_STORAGE", postgres_url)
    airflow_sandbox.add_sweep("it_pg", branin_dag_sweep("it_pg"))
    conf = json.dumps({"max_trials": 7, "batch_size": 2, "seed": 11})
    _assert_ok(airflow_sandbox.dag_test("hpo__it_pg", conf), airflow_sandbox, "hpo__it_pg")

    name = latest_study_name("it_pg")
    assert name is not None
    study, cfg = record.load(name)
    assert (cfg.budget.max_trials, cfg.budget.batch_size, cfg.seed) == (7, 2, 11)
    trials = study.get_trials()
    assert len(trials) == 7 and all(t.state == TrialState.COMPLETE for t in trials)
    states = airflow_sandbox.task_states("hpo__it_pg")
    assert states["round_01.run_trial"] == ["success"] * 2


MIXED = """
name: it_mixed
objective: {name: "tests.integration.faulty_objectives:conditional_bowl"}
direction: maximize
space:
  lr: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
  hidden: {type: int, low: 32, high: 512, power_of_two: true}
  optimizer: {type: categorical, choices: [adam, adamw, sgd]}
  momentum: {type: float, low: 0.0, high: 0.99, when: {optimizer: sgd}}
budget: {max_trials: 10, n_init: 6, batch_size: 2}
sampler: {name: gp, acquisition: ucb}
seed: 5
resources: {retries: 0}
"""


def test_mixed_conditional_sweep_through_the_dag(airflow_sandbox: AirflowSandbox) -> None:
    airflow_sandbox.add_sweep("it_mixed", MIXED)
    _assert_ok(airflow_sandbox.dag_test("hpo__it_mixed"), airflow_sandbox, "hpo__it_mixed")
    name = latest_study_name("it_mixed")
    study, _ = record.load(name)
    trials = study.get_trials()
    assert len(trials) == 10 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(("momentum" in t.params) == (t.params["optimizer"] == "sgd") for t in trials)
    assert all(record.suggest_info(t)["phase"] == "gp" for t in trials[6:])

    summary = summarize(name)
    children = tracking.children(summary["mlflow_parent_run_id"], "it_mixed")
    for c in children:
        assert ("momentum" in c.data.params) == (c.data.params["optimizer"] == "sgd")
    # GP diagnostics per suggest step on the parent run, one step per GP trial
    history = tracking.client().get_metric_history(summary["mlflow_parent_run_id"], "gp.fit_seconds")
    assert sorted(m.step for m in history) == list(range(6, 10))
    for key in ("gp.acq_value", "gp.noise", "gp.lengthscale.lr", "gp.lengthscale.optimizer"):
        assert tracking.client().get_metric_history(summary["mlflow_parent_run_id"], key)
