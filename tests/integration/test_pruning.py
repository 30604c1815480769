"""Pruned trials through the real pipeline: Optuna and MLflow on SQLite, in-process and in a DAG run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from hpo_tasks import record, tracking
from hpo_tasks.config import SweepConfig, parse_sweep
from hpo_tasks.record import latest_study_name
from hpo_tasks.steps import init_sweep, run_in_process, run_trial, suggest_batch
from hpo_tasks.summary import summarize
from tests.helpers import branin_yaml
from tests.integration.conftest import AirflowSandbox

pytestmark = pytest.mark.integration


def _text(
    name: str,
    *,
    pruner: str,
    sampler: str = "random",
    max_trials: int = 12,
    batch_size: int = 4,
    n_init: int | None = 4,
) -> str:
    """A Branin learning-curve sweep (9 epochs); ``pruner`` is the block as YAML flow text."""
    budget = {"max_trials": max_trials, "batch_size": batch_size}
    return branin_yaml(
        name,
        objective={"name": "branin_curve", "args": {"epochs": 9}},
        budget=budget if n_init is None else {**budget, "n_init": n_init},
        sampler={"name": sampler},
        pruner=yaml.safe_load(pruner),
        seed=1,
        resources={"retries": 0},
    )


def _cfg(name: str, **kw: Any) -> SweepConfig:
    return parse_sweep(yaml.safe_load(_text(name, **kw)))


def test_pruned_trials_stop_early_are_recorded_and_never_rerun(state_dir: Path) -> None:
    cfg = _cfg("prune_rec", pruner="{name: successive_halving, min_resource: 1, reduction_factor: 3}")
    summary = run_in_process(cfg, label="r1")
    study, _ = record.load(summary["study_name"])
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and len(pruned) + len(complete) == 12
    assert all(len(t.intermediate_values) < 9 for t in pruned), "a pruned trial stops before its last epoch"
    assert all(sorted(t.intermediate_values) == list(range(1, 10)) for t in complete)
    assert all(t.user_attrs["pruned_at_step"] == t.last_step for t in pruned)
    assert (summary["n_pruned"], summary["n_complete"]) == (len(pruned), len(complete))
    assert summary["n_steps"] == sum(len(t.intermediate_values) for t in trials) < 12 * 9
    assert summary["stop_reason"] == "max_trials"  # pruned trials count against the budget

    # Best: the best completed trial, never a pruned one.
    assert summary["best_value"] == min(t.value for t in complete)
    assert study.best_trial.state == TrialState.COMPLETE

    # MLflow: the pruned child run is KILLED with the step it stopped at and its curve by step.
    parent = summary["mlflow_parent_run_id"]
    children = {int(c.data.tags["hpo.trial_number"]): c for c in tracking.children(parent, cfg.name)}
    client = tracking.client()
    for t in pruned:
        run = children[t.number]
        assert run.info.status == "KILLED" and run.data.tags["hpo.state"] == "PRUNED"
        assert run.data.tags["hpo.pruned_at_step"] == str(t.last_step)
        assert "value" not in run.data.metrics
        history = client.get_metric_history(run.info.run_id, "intermediate_value")
        assert sorted(m.step for m in history) == list(range(1, t.last_step + 1))
    for t in complete:
        assert children[t.number].info.status == "FINISHED"
        assert children[t.number].data.metrics["value"] == pytest.approx(t.value)
    assert tracking.run_info(parent).data.metrics["n_pruned"] == len(pruned)
    assert tracking.run_info(parent).data.params["pruner"] == "successive_halving"

    # The compute: per child run the resource spent (and a pruned trial's rung), on the parent the
    # sweep's total against the same trials unpruned; `hpo report` prints it.
    for t in pruned:
        assert children[t.number].data.metrics["resource"] == t.last_step
        rung = {1: "0", 3: "1"}[t.last_step]  # SHA's rungs: steps 1, 3 (min_resource * 3^rung)
        assert children[t.number].data.tags["hpo.rung"] == rung
    assert all(children[t.number].data.metrics["resource"] == 9 for t in complete)
    used = sum(len(t.intermediate_values) for t in trials)
    assert (summary["resource_used"], summary["resource_unpruned"]) == (used, 12 * 9)
    metrics = tracking.run_info(parent).data.metrics
    assert (metrics["resource_used"], metrics["resource_unpruned"]) == (used, 12 * 9)
    assert metrics["resource_saved"] == pytest.approx(1 - used / 108)

    # A redelivered trial task of a pruned trial reports the recorded outcome: nothing runs again.
    t = pruned[0]
    spec = {"study_name": summary["study_name"], "trial_number": t.number, "params": t.params,
            "seed": record.seed_of(t), "round": 0}  # fmt: skip
    again = run_trial(spec)
    assert (again["state"], again["pruned_at_step"], again["value"]) == ("PRUNED", t.last_step, None)
    assert study.get_trials()[t.number].intermediate_values == t.intermediate_values
    assert len(tracking.children(parent, cfg.name)) == 12
    history = client.get_metric_history(children[t.number].info.run_id, "intermediate_value")
    assert len(history) == t.last_step

    # Optuna keeps a pruned trial's last reported value: a low-fidelity value must never win.
    t = study.ask()
    t.report(-1000.0, 1)  # far below Branin's minimum 0.398
    study.tell(t, state=TrialState.PRUNED)
    assert study.get_trials()[t.number].value == -1000.0
    assert summarize(summary["study_name"])["best_value"] == summary["best_value"] > 0.39
    shown = summarize(summary["study_name"])
    assert (shown["best_value"], shown["n_pruned"]) == (summary["best_value"], len(pruned) + 1)


def test_a_lost_tell_of_a_pruned_trial_is_told_on_retry_without_rerunning(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _cfg("prune_lost", pruner="{name: successive_halving, min_resource: 1, reduction_factor: 3}")
    name = init_sweep(cfg, run_id="r1")["study_name"]
    specs = suggest_batch(name, 0)
    real_tell = optuna.Study.tell

    def flaky_tell(self, trial, values=None, state=None, skip_if_finished=False):
        if state == TrialState.PRUNED:
            raise ConnectionError("storage went away")  # the task dies after logging its child run
        return real_tell(self, trial, values, state, skip_if_finished)

    monkeypatch.setattr(optuna.Study, "tell", flaky_tell)
    lost = None
    for spec in specs:
        try:
            run_trial(spec)
        except ConnectionError:
            lost = spec
            break
    assert lost is not None, "one of the seed trials is pruned (worse than trial 0 at epoch 1)"
    monkeypatch.setattr(optuna.Study, "tell", real_tell)
    study, _ = record.load(name)
    steps = study.get_trials()[lost["trial_number"]].intermediate_values
    assert study.get_trials()[lost["trial_number"]].state == TrialState.RUNNING

    result = run_trial(lost)  # Airflow's retry
    t = study.get_trials()[lost["trial_number"]]
    assert result["state"] == "PRUNED" and t.state == TrialState.PRUNED
    assert t.intermediate_values == steps, "the retry did not train again"


def test_pruned_sweep_through_the_dag_with_the_form_choosing_the_pruner(
    airflow_sandbox: AirflowSandbox,
) -> None:
    # The file says hyperband with BOHB's rung model; the trigger form picks successive halving and
    # keeps reduction_factor and the model.
    text = _text(
        "it_prune", pruner="{name: hyperband, reduction_factor: 3, min_resource: 1, model: rungs}",
        sampler="gp", max_trials=8, batch_size=2, n_init=None,
    )  # fmt: skip
    airflow_sandbox.add_sweep("it_prune", text)
    proc = airflow_sandbox.dag_test("hpo__it_prune", json.dumps({"pruner": "successive_halving"}))
    assert proc.returncode == 0, (airflow_sandbox.home / "hpo__it_prune.log").read_text()[-6000:]

    name = latest_study_name("it_prune")
    study, cfg = record.load(name)
    assert (cfg.pruner.name, cfg.pruner.reduction_factor, cfg.pruner.model) == (
        "successive_halving",
        3,
        "rungs",
    )
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert len(trials) == 8 and pruned
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert all(len(t.intermediate_values) < 9 for t in pruned)
    assert all(sorted(t.intermediate_values) == list(range(1, 10)) for t in trials if t not in pruned)

    summary = summarize(name)
    assert summary["n_pruned"] == len(pruned) and summary["stop_reason"] == "max_trials"
    assert study.best_trial.state == TrialState.COMPLETE
    parent = tracking.run_info(summary["mlflow_parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["hpo.pruner"] == "successive_halving"
    children = {
        int(c.data.tags["hpo.trial_number"]): c for c in tracking.children(parent.info.run_id, "it_prune")
    }
    for t in pruned:
        c = children[t.number]
        assert c.info.status == "KILLED" and c.data.tags["hpo.pruned_at_step"] == str(t.last_step)
        assert c.data.tags["airflow.dag_id"] == "hpo__it_prune"
    states = airflow_sandbox.task_states("hpo__it_prune")
    assert all(s == "success" for s in states["round_00.run_trial"] + states["round_01.run_trial"])
    assert states["finalize"] == ["success"]


def test_beat_probability_stops_hopeless_trials_the_rungs_pass(state_dir: Path) -> None:
    from hpo_tasks.extrapolation import PROBABILITY_ATTR

    # Hyperband: its last bracket trains every trial to the end, so complete trials (the rule's pairs)
    # come early even with random search.
    pruner = "{name: hyperband, min_resource: 1, max_resource: 9, beat_probability: 0.05}"
    cfg = _cfg("prune_beat", pruner=pruner, max_trials=20)
    summary = run_in_process(cfg, label="r1")
    study, _ = record.load(summary["study_name"])
    trials = study.get_trials()
    stopped = [t for t in trials if PROBABILITY_ATTR in t.user_attrs]
    assert stopped, "on Branin's curve step 1 ranks the finals: some trial the rung passed is hopeless"
    assert all(t.state == TrialState.PRUNED and t.last_step in (1, 3) for t in stopped)
    assert all(0.0 <= t.user_attrs[PROBABILITY_ATTR] < 0.05 for t in stopped)
    # ... each only after the rule had its pairs: five complete trials that reported the rung before it
    for t in stopped:
        earlier = [c for c in trials if c.state == TrialState.COMPLETE and c.number < t.number]
        assert len(earlier) >= 5
    children = {
        int(c.data.tags["hpo.trial_number"]): c
        for c in tracking.children(summary["mlflow_parent_run_id"], cfg.name)
    }
    for t in stopped:
        tags = children[t.number].data.tags
        assert float(tags["hpo.beat_probability"]) == pytest.approx(t.user_attrs[PROBABILITY_ATTR])
        assert tags["hpo.state"] == "PRUNED"
    params = tracking.run_info(summary["mlflow_parent_run_id"]).data.params
    assert params["pruner.beat_probability"] == "0.05"
    assert len(children) == 20 and summary["stop_reason"] == "max_trials"
