"""steps.trial.run_trial's three branches, at function level, on a real SQLite Optuna storage and a real
local MLflow store: a trial already finished, a lost tell recovered from the child run, a fresh run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpo_tasks import record, tracking
from hpo_tasks.config import parse_sweep
from hpo_tasks.objectives.synthetic import branin
from hpo_tasks.steps import init_sweep, suggest_batch
from hpo_tasks.steps import trial as trial_step
from tests.helpers import branin_sweep

CFG = branin_sweep("tr", budget={"max_trials": 2, "n_init": 2, "batch_size": 1}, sampler={"name": "random"})


@pytest.fixture
def specs(state_dir: Path) -> list[dict[str, Any]]:
    info = init_sweep(parse_sweep(CFG), run_id="t")
    return suggest_batch(info["study_name"], 0)


def _children(spec: dict) -> list[Any]:
    study, _ = record.load(spec["study_name"])
    return tracking.children(study.user_attrs[record.PARENT_RUN_ATTR], "tr")


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(name: str) -> Any:
        raise AssertionError("the objective must not run again")

    monkeypatch.setattr(trial_step, "resolve_objective", refuse)


def test_fresh_run_trains_logs_the_child_and_tells(specs: list[dict]) -> None:
    spec = specs[0]
    result = trial_step.run_trial(spec, context={"run_id": "t"})
    want = branin(spec["params"], seed=spec["seed"])
    assert (result["state"], result["trial_number"]) == ("COMPLETE", spec["trial_number"])
    assert result["value"] == pytest.approx(want) and result["error"] is None
    study, _ = record.load(spec["study_name"])
    t = study.get_trials()[spec["trial_number"]]
    assert t.state == TrialState.COMPLETE and t.value == pytest.approx(want)
    assert record.seed_of(t) == spec["seed"] and "seed" not in t.user_attrs  # stored once
    (child,) = _children(spec)
    assert child.info.status == "FINISHED" and child.data.metrics["value"] == pytest.approx(want)
    assert child.data.tags["hpo.seed"] == str(spec["seed"]) and child.data.tags["airflow.run_id"] == "t"


def test_a_finished_trial_is_reported_not_rerun(specs: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    spec = specs[0]
    first = trial_step.run_trial(spec)
    _no_training(monkeypatch)
    again = trial_step.run_trial(spec)  # a redelivered task
    assert again == {**first, "wallclock_seconds": again["wallclock_seconds"]}
    assert again["wallclock_seconds"] == pytest.approx(first["wallclock_seconds"])
    assert len(_children(spec)) == 1  # no second run


def test_a_lost_tell_is_told_from_the_child_run(specs: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    spec = specs[1]
    real_tell = optuna.Study.tell

    def lose_tell(self: optuna.Study, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("storage went away after the child run was logged")

    monkeypatch.setattr(optuna.Study, "tell", lose_tell)
    with pytest.raises(ConnectionError):
        trial_step.run_trial(spec)
    study, _ = record.load(spec["study_name"])
    assert study.get_trials()[spec["trial_number"]].state == TrialState.RUNNING
    monkeypatch.setattr(optuna.Study, "tell", real_tell)
    _no_training(monkeypatch)
    result = trial_step.run_trial(spec)  # Airflow's retry
    (child,) = _children(spec)
    assert result["state"] == "COMPLETE" and result["value"] == child.data.metrics["value"]
    t = record.load(spec["study_name"])[0].get_trials()[spec["trial_number"]]
    assert t.state == TrialState.COMPLETE and t.value == child.data.metrics["value"]
